#!/bin/bash
# Verify a SecureChat session receipt and its transcript with nothing but
# the stock openssl command (and bash, grep, sed, cut): the same checks as
# `sc-admin receipt verify`, spelled out byte by byte (docs/PROTOCOL.md §5).
#
# usage: verify-receipt-openssl.sh TRANSCRIPT RECEIPT.json SIGNER_CERT CA_CERT
set -euo pipefail
T=$1 R=$2 C=$3 CA=$4
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

field() { sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\} *$/\1/p" "$R"; }
hex2bin() { local h=$1; printf "$(printf '%s' "$h" | sed 's/../\\x&/g')"; }
sha256hex() { openssl dgst -sha256 -r | cut -d' ' -f1; }

sid=$(field session_id) role=$(field role) first=$(field first_seq)
last=$(field last_seq) thash=$(field transcript_sha256)
peer=$(field peer_fingerprint) signer=$(field signer_fingerprint)
case $role in client) rbyte=01 purpose=sslclient ;; server) rbyte=02 purpose=sslserver ;;
    *) echo "bad role"; exit 1 ;; esac

# 1. The signer's certificate chains to the CA for its role.
openssl verify -CAfile "$CA" -purpose "$purpose" "$C" >/dev/null
fp=$(openssl x509 -in "$C" -outform DER | sha256hex)
[ "$fp" = "$signer" ] || { echo "FAIL: receipt not signed by $C"; exit 1; }
openssl x509 -in "$C" -pubkey -noout > "$tmp/pub.pem"

# 2. The transcript hash: SHA-256(SHA-256(c2s lines) || SHA-256(s2c lines)).
grep '^[0-9]*|[0-9]*|c2s|' "$T" > "$tmp/c2s" || true
grep '^[0-9]*|[0-9]*|s2c|' "$T" > "$tmp/s2c" || true
h=$( { openssl dgst -sha256 -binary "$tmp/c2s"; openssl dgst -sha256 -binary "$tmp/s2c"; } | sha256hex)
[ "$h" = "$thash" ] || { echo "FAIL: transcript hash differs from the receipt"; exit 1; }

# 3. The receipt signature (RSA PKCS#1 v1.5, SHA-256) over its statement.
{ printf 'SecureChat-v1 receipt\0'; hex2bin "$sid"; hex2bin "$rbyte"
  hex2bin "$(printf '%016x' "$first")"; hex2bin "$(printf '%016x' "$last")"
  hex2bin "$thash"; hex2bin "$peer"; } > "$tmp/stmt"
field sig | openssl base64 -d -A > "$tmp/sig"
openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig" "$tmp/stmt" >/dev/null

# 4. Every line the signer sent carries its valid record signature.
n=0
if [ "$role" = client ]; then mydir=c2s dbyte=01; else mydir=s2c dbyte=02; fi
while IFS='|' read -r seq ts dir type ivct sig lfp; do
	[ "$dir" = "$mydir" ] || continue
	[ "$lfp" = "$signer" ] || { echo "FAIL: line $seq not by the signer"; exit 1; }
	printf '%s' "$ivct" | openssl base64 -d -A > "$tmp/ivct"
	len=$(( $(wc -c < "$tmp/ivct") - 16 ))
	{ printf 'SecureChat-v1 record\0'; hex2bin "$sid"; hex2bin "$dbyte"
	  hex2bin "$(printf '%02x' "$type")"; hex2bin 02
	  hex2bin "$(printf '%016x' "$seq")"; hex2bin "$(printf '%016x' "$ts")"
	  head -c 16 "$tmp/ivct"; hex2bin "$(printf '%08x' "$len")"
	  tail -c "$len" "$tmp/ivct"; } > "$tmp/rec"
	printf '%s' "$sig" | openssl base64 -d -A > "$tmp/rsig"
	openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/rsig" "$tmp/rec" >/dev/null ||
	    { echo "FAIL: line $seq: bad record signature"; exit 1; }
	n=$((n + 1))
done < "$T"
echo "OK: $role receipt for session $sid, seq $first..$last, $n record signatures verified"
