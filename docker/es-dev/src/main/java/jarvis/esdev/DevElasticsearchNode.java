package jarvis.esdev;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.ClasspathPluginsNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * A single-node Elasticsearch cluster for tests and local development, built from the artifacts
 * Elastic publishes on Maven Central: the server, its test framework (for its classpath plugin
 * loader) and the Netty 4 HTTP/transport module. The REST API it serves is the real engine's.
 *
 * <p>Usage: {@code DevElasticsearchNode --port 9200 --data .es-data [--host 127.0.0.1]}; a node
 * of a cluster also takes {@code --node-name}, a fixed {@code --transport-port}, the
 * {@code --seed-hosts} (transport addresses of the others) and, for the first election,
 * {@code --initial-master-nodes}. Prints
 * {@code ELASTICSEARCH READY http://HOST:PORT} on stdout once it accepts requests, and stops
 * cleanly on SIGTERM/SIGINT (data is flushed, so a restart on the same directory finds it again).
 * With {@code --stop-on-stdin-eof} it also stops when its stdin closes.
 */
public final class DevElasticsearchNode {

    /** The line a supervisor waits for; the URL follows it. */
    public static final String READY_PREFIX = "ELASTICSEARCH READY ";

    private DevElasticsearchNode() {}

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        String port = "9200";
        Path data = null;
        boolean stopOnStdinEof = false;
        String nodeName = "jarvis-dev";
        String transportPort = "0";
        String seedHosts = null;
        String initialMasters = null;
        Deque<String> rest = new ArrayDeque<>(List.of(args));
        while (rest.isEmpty() == false) {
            String flag = rest.pop();
            switch (flag) {
                case "--host" -> host = valueOf(flag, rest);
                case "--port" -> port = valueOf(flag, rest);
                case "--data" -> data = Path.of(valueOf(flag, rest));
                case "--stop-on-stdin-eof" -> stopOnStdinEof = true;
                case "--node-name" -> nodeName = valueOf(flag, rest);
                case "--transport-port" -> transportPort = valueOf(flag, rest);
                case "--seed-hosts" -> seedHosts = valueOf(flag, rest);
                case "--initial-master-nodes" -> initialMasters = valueOf(flag, rest);
                default -> usage("unknown argument " + flag);
            }
        }
        if (data == null) {
            usage("--data is required");
        }
        Path home = data.toAbsolutePath().normalize();
        Files.createDirectories(home.resolve("config"));

        Settings.Builder builder = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "jarvis-dev")
            .put("node.name", nodeName)
            .put("network.host", host)
            .put("http.port", port)
            // Alone, the transport port only serves node-to-node traffic nobody sends: any free
            // one will do, which lets several single dev nodes run side by side. In a cluster
            // the nodes find each other at fixed ones (--seed-hosts).
            .put("transport.port", transportPort);
        if (seedHosts == null) {
            builder.put("discovery.type", "single-node");
        } else {
            builder.putList("discovery.seed_hosts", List.of(seedHosts.split(",")));
            if (initialMasters != null) {
                builder.putList("cluster.initial_master_nodes", List.of(initialMasters.split(",")));
            }
        }
        Settings settings = builder
            // Tests wipe jarvis-logs-* between runs; a wildcard delete is refused by default.
            .put("action.destructive_requires_name", false)
            // A full shared disk must not flip test indices to read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();

        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), null, () -> "jarvis-dev");
        Node node = new ClasspathPluginsNode(
            environment, List.of(Netty4Plugin.class, RootInfoPlugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "jarvis-dev-shutdown"));

        if (stopOnStdinEof) {
            watchStdin();
        }
        try {
            node.start();
        } catch (Exception e) {
            // A taken port, for one: say so and exit, the shutdown hook closes what had started.
            e.printStackTrace();
            System.exit(1);
        }
        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        var address = http.boundAddress().publishAddress();
        System.out.println(READY_PREFIX + "http://" + address.getAddress() + ":" + address.getPort());
        System.out.flush();
        // Elasticsearch's own launcher also keeps a non-daemon thread for this: its pools are daemons.
        stopped.await();
    }

    /**
     * Stops the node once stdin closes: a supervisor (the test suite) that holds the other end
     * of a pipe cannot leave an orphan node behind, however it dies.
     */
    private static void watchStdin() {
        Thread watcher = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // Input carries no meaning; only its end does.
                }
            } catch (IOException e) {
                // A broken stdin is a closed one.
            }
            System.exit(0);
        }, "jarvis-dev-stdin-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    private static String valueOf(String flag, Deque<String> rest) {
        if (rest.isEmpty()) {
            usage(flag + " needs a value");
        }
        return rest.pop();
    }

    private static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: DevElasticsearchNode --port PORT --data DIR [--host 127.0.0.1]"
            + " [--stop-on-stdin-eof] [--node-name NAME --transport-port PORT"
            + " --seed-hosts HOST:PORT,... --initial-master-nodes NAME,...]");
        System.exit(2);
    }
}
