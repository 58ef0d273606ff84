#!/bin/sh
# make demo: everything set up under ./run and the main job shown end to end.
set -eu
: "${BUILD:=build}"
B=$(pwd)/$BUILD/bin
RUN=$(pwd)/run
say() { printf '\n==> %s\n' "$*"; }

rm -rf "$RUN/ca"
mkdir -p "$RUN"
say "Private CA (RSA-3072 root) in $RUN/ca"
"$B/sc-admin" pki init-ca --dir "$RUN/ca" --cn "SecureChat Demo CA"
say "Server certificate for localhost / 127.0.0.1"
"$B/sc-admin" pki issue --dir "$RUN/ca" --name server --cn localhost \
    --san DNS:localhost,IP:127.0.0.1 --server
say "Client certificate for alice"
"$B/sc-admin" pki issue --dir "$RUN/ca" --name alice --cn alice --client
say "Inspect the server certificate"
"$B/sc-admin" pki inspect "$RUN/ca/server.pem"
say "Verify both chains (sc-admin, then the stock openssl command)"
"$B/sc-admin" pki verify --ca "$RUN/ca/ca.pem" --purpose server --name localhost "$RUN/ca/server.pem"
"$B/sc-admin" pki verify --ca "$RUN/ca/ca.pem" --purpose client "$RUN/ca/alice.pem"
openssl verify -CAfile "$RUN/ca/ca.pem" -purpose sslserver "$RUN/ca/server.pem"
openssl verify -CAfile "$RUN/ca/ca.pem" -purpose sslclient "$RUN/ca/alice.pem"
say "A client certificate is refused for server use"
"$B/sc-admin" pki verify --ca "$RUN/ca/ca.pem" --purpose server "$RUN/ca/alice.pem" || true
say "Done: the CA, keys (0600) and certificates are in $RUN/ca"
