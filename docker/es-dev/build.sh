#!/usr/bin/env bash
# Builds the development Elasticsearch node: resolves the Elasticsearch artifacts from Maven
# Central (cached under ~/.m2), compiles the launcher and writes target/classpath.txt for run.sh.
# Idempotent; returns at once when nothing changed since the last build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/es-dev/java-home.sh
source "$here/java-home.sh"

stamp="$here/target/.built"
if [ -f "$stamp" ] && [ -f "$here/target/classpath.txt" ] \
    && [ -z "$(find "$here/pom.xml" "$here/src" -newer "$stamp" -print -quit)" ]; then
    exit 0
fi

# Maven's bundled Guava trips a deprecation warning on recent JDKs; it is harmless.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$here/pom.xml" compile
touch "$stamp"
echo "es-dev: built with $JAVA_HOME; start it with $here/run.sh --port 9200 --data .es-data"
