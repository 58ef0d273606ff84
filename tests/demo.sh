#!/bin/bash
# make demo: a whole SecureChat installation under ./run, shown end to end:
# private CA and certificates, a private MariaDB, securechatd with keyd and
# authd (privilege-separated when run as root), a registration, a login, a
# scripted chat with the echo service, receipts exchanged, then verified
# offline with sc-admin and with the stock openssl command.  Everything it
# started is stopped at the end, even on failure.
set -euo pipefail
: "${BUILD:=build}"
TOP=$(pwd)
B=$TOP/$BUILD/bin
RUN=$TOP/run
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

DAEMON_PID=
cleanup() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
	fi
	sh "$TOP/tests/lib/mariadb.sh" stop "$RUN/db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$RUN"
mkdir -p "$RUN"
chmod 0711 "$RUN"

say "1. A private CA (RSA-3072 root) and certificates, with sc-admin pki"
"$B/sc-admin" pki init-ca --dir "$RUN/ca" --cn "SecureChat Demo CA"
"$B/sc-admin" pki issue --dir "$RUN/ca" --name server --cn localhost \
    --san DNS:localhost,IP:127.0.0.1 --server
"$B/sc-admin" pki issue --dir "$RUN/ca" --name alice --cn alice --client
"$B/sc-admin" pki issue --dir "$RUN/ca" --name bob --cn bob --client
"$B/sc-admin" pki inspect "$RUN/ca/server.pem"
"$B/sc-admin" pki verify --ca "$RUN/ca/ca.pem" --purpose server --name localhost "$RUN/ca/server.pem"
openssl verify -CAfile "$RUN/ca/ca.pem" -purpose sslclient "$RUN/ca/alice.pem"

say "2. A private MariaDB server under run/db, schema created by sc-admin db init"
DBCONF=$(sh "$TOP/tests/lib/mariadb.sh" start "$RUN/db")
"$B/sc-admin" db init --config "$DBCONF"

say "3. Configuration, users and jail"
if [ "$(id -u)" = 0 ]; then
	getent passwd _securechat _securechat-key _securechat-auth _securechat-router >/dev/null ||
	    systemd-sysusers "$TOP/systemd/sysusers.conf"
	JAIL=/run/securechat-demo/empty
	mkdir -p "$JAIL"; chown root:root /run/securechat-demo "$JAIL"
	chmod 0755 /run/securechat-demo "$JAIL"
else
	JAIL=$RUN/jail; mkdir -p "$JAIL"
	echo "(not root: development mode, no user switch or chroot)"
fi
mkdir -p -m 0700 "$RUN/transcripts" "$RUN/receipts"
PORT=$(( 20000 + $$ % 20000 ))
cat > "$RUN/securechatd.conf" <<CONF
listen 127.0.0.1:$PORT
ca $RUN/ca/ca.pem
crl $RUN/ca/crl.pem
cert $RUN/ca/server.pem
key $RUN/ca/server.key
server_name localhost
db_config $DBCONF
jail $JAIL
keyd_path $B/keyd
authd_path $B/authd
router_path $B/router
transcript_dir $RUN/transcripts
receipt_dir $RUN/receipts
audit_log $RUN/audit.log
CONF
"$B/sc-admin" pki crl --dir "$RUN/ca" >/dev/null
"$B/securechatd" -t -f "$RUN/securechatd.conf"
cat "$RUN/securechatd.conf"

say "4. securechatd (master, keyd, authd, router; one worker per connection)"
"$B/securechatd" -d -f "$RUN/securechatd.conf" 2> "$RUN/securechatd.log" &
DAEMON_PID=$!
for i in $(seq 100); do
	ss -Htln "sport = :$PORT" | grep -q . && break
	kill -0 "$DAEMON_PID" || { cat "$RUN/securechatd.log"; exit 1; }
	sleep 0.1
done
ps -o user,pid,args --ppid "$DAEMON_PID" || true

client_as() {
	who=$1; shift
	"$B/sc-client" -s 127.0.0.1:$PORT --name localhost --ca "$RUN/ca/ca.pem" \
	    --cert "$RUN/ca/$who.pem" --key "$RUN/ca/$who.key" \
	    --dir "$RUN/client" --password-stdin "$@"
}
client() { client_as alice "$@"; }

say "5. alice registers (password sent under K_temp) and chats"
printf 'demo-password-1\nhello\nhow are you?\n/exit\n' |
    client register --username alice --email alice@example.org | tee "$RUN/session1.txt"

say "6. alice logs in again"
printf 'demo-password-1\nhello again\n/exit\n' |
    client login --username alice | tee "$RUN/session2.txt"

say "7. A wrong password is refused"
printf 'not-the-password\n' | client login --username alice || true

say "8. The transcript and the receipts (client side)"
T=$(sed -n 's/^ *transcript: *//p' "$RUN/session1.txt")
MINE=$(sed -n 's/^ *your receipt: *//p' "$RUN/session1.txt")
THEIRS=$(sed -n 's/^ *server receipt: *//p' "$RUN/session1.txt")
cat "$T" | cut -c1-120
cat "$THEIRS"

say "9. Offline verification with sc-admin"
"$B/sc-admin" receipt verify --transcript "$T" --receipt "$MINE" \
    --cert "$RUN/ca/alice.pem" --ca "$RUN/ca/ca.pem"
"$B/sc-admin" receipt verify --transcript "$T" --receipt "$THEIRS" \
    --cert "$RUN/ca/server.pem" --ca "$RUN/ca/ca.pem"

say "10. The same check with only the stock openssl command"
bash "$TOP/docs/examples/verify-receipt-openssl.sh" "$T" "$THEIRS" \
    "$RUN/ca/server.pem" "$RUN/ca/ca.pem"

say "11. A tampered transcript fails"
cp "$T" "$RUN/tampered.transcript"
sed -i '1s/|[0-9]/|9/' "$RUN/tampered.transcript"
if "$B/sc-admin" receipt verify --transcript "$RUN/tampered.transcript" \
    --receipt "$MINE" --cert "$RUN/ca/alice.pem" --ca "$RUN/ca/ca.pem"; then
	echo "tampering went unnoticed"; exit 1
fi

say "12. Users talk to users: bob registers; alice writes to him while he is away"
printf 'bob-password-12\n/exit\n' |
    client_as bob register --username bob --email bob@example.org
printf 'demo-password-1\n/msg bob Hello Bob, only you can read this.\n/exit\n' |
    client login --username alice
echo "What the server stored (an envelope it cannot read):"
sh "$TOP/tests/lib/mariadb.sh" sql "$RUN/db" \
    "SELECT id, LENGTH(envelope) AS bytes, LEFT(HEX(envelope), 48) AS starts FROM envelopes"

say "13. bob logs in and gets it (decrypted and verified on his side)"
printf 'bob-password-12\n/exit\n' | client_as bob login --username bob

say "14. bob's copy still proves who said what, offline"
"$B/sc-client" verify --history "$RUN/client/bob/history" --ca "$RUN/ca/ca.pem"

say "15. The audit log (JSON lines)"
cut -c1-160 "$RUN/audit.log"

say "Done. Everything is under $RUN; securechatd and MariaDB are stopped."
