# Sourced by build.sh and run.sh: Elasticsearch 9 needs Java 21 or newer.
if [ -z "${ES_DEV_JAVA_HOME:-}" ]; then
    for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 \
        /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64; do
        if [ -x "$candidate/bin/java" ]; then
            ES_DEV_JAVA_HOME="$candidate"
            break
        fi
    done
fi
if [ -z "${ES_DEV_JAVA_HOME:-}" ]; then
    echo "es-dev: no Java 21+ found under /usr/lib/jvm; set ES_DEV_JAVA_HOME" >&2
    exit 1
fi
export JAVA_HOME="$ES_DEV_JAVA_HOME"
