# Source this file (scripts/test.sh does): checks for the system packages the tests use —
# Java 17+ (pyspark 4's spark-submit), redis-server, chromium, PostgreSQL — and installs the
# missing ones with one apt-get, as root or through sudo. Without either it stops with one
# sentence naming what to install. Exports JAVA_HOME when a Java 17+ is installed but an older
# `java` comes first on PATH.
java_major() { # the major version of the `java` on PATH, or 0
  java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit}' || true
}
missing=()
major=$(command -v java >/dev/null && java_major || echo 0)
if [ "${major:-0}" -lt 17 ]; then
  jdk=$(ls -d /usr/lib/jvm/java-{17,21,25}-openjdk-* 2>/dev/null | head -n 1 || true)
  if [ -n "$jdk" ]; then # a Java 17+ is installed but is not the default `java`
    export JAVA_HOME=$jdk PATH="$jdk/bin:$PATH"
  else
    missing+=(openjdk-17-jre-headless)
  fi
fi
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    echo "test.sh: the tests need ${missing[*]}; install them as root (sudo apt-get install -y ${missing[*]}) and run this again." >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "test.sh: installing ${missing[*]} with apt" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

