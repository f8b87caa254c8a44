package org.elasticsearch.node;

import java.util.Collection;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

/**
 * A production {@link Node} whose plugins are classes on the classpath instead of bundles under
 * {@code $ES_HOME/modules}: Maven Central has the module jars but not the distribution layout.
 *
 * <p>Why this class sits in Elastic's package: the only hook for swapping the plugin loader,
 * {@code NodeServiceProvider#newPluginService}, is package-private. Every other service is the
 * real one. The test framework's {@code MockNode} would do the same, but it pulls in the
 * randomized-testing runner, and with that on the classpath every {@code Randomness.get()} call
 * outside a JUnit test fails.
 */
public final class ClasspathPluginsNode extends Node {

    /** Builds (does not start) a node that loads {@code plugins} from the classpath. */
    public ClasspathPluginsNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader unused) {
                return new MockPluginsService(env.settings(), env, plugins);
            }
        }, true));
    }
}
