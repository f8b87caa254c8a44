#!/usr/bin/env bash
# Runs the development Elasticsearch node in the foreground; stop it with Ctrl-C or SIGTERM.
#   docker/es-dev/run.sh --port 9200 --data .es-data [--host 127.0.0.1] [--stop-on-stdin-eof]
# Prints "ELASTICSEARCH READY http://HOST:PORT" on stdout once it serves requests; logs go to
# stderr. Heap: ES_DEV_HEAP (default 1g, initial 512m). Needs docker/es-dev/build.sh first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/es-dev/java-home.sh
source "$here/java-home.sh"

if [ ! -f "$here/target/classpath.txt" ] || [ ! -d "$here/target/classes" ]; then
    echo "es-dev: not built yet, run $here/build.sh" >&2
    exit 1
fi

heap="${ES_DEV_HEAP:-1g}"
exec "$JAVA_HOME/bin/java" \
    -Xms512m -Xmx"$heap" \
    -XX:+UseG1GC \
    -Dfile.encoding=UTF-8 \
    -Djava.locale.providers=CLDR \
    -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -Dlog4j.shutdownHookEnabled=false \
    -Dlog4j2.disable.jmx=true \
    -Dlog4j2.formatMsgNoLookups=true \
    -Dio.netty.noUnsafe=true \
    -Dio.netty.noKeySetOptimization=true \
    -Dio.netty.recycler.maxCapacityPerThread=0 \
    -Des.nativelibs.path="$here/target/no-native-libs" \
    --enable-native-access=ALL-UNNAMED \
    --add-modules=jdk.incubator.vector \
    -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" \
    jarvis.esdev.DevElasticsearchNode "$@"
