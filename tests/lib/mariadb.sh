#!/bin/sh
# tests/lib/mariadb.sh: a private MariaDB server for `make demo` and other
# shell scripts; the shell twin of tests/lib/mariadb.c.
#
#   sh tests/lib/mariadb.sh start DIR   initialise DIR/data (first time),
#                                       start mariadbd on DIR/mysql.sock and
#                                       a free port of 127.0.0.1, create the
#                                       database "securechat" and its user,
#                                       and print the path of DIR/db.conf
#                                       (mode 0600, TCP, as authd uses it)
#   sh tests/lib/mariadb.sh stop DIR    stop that server (the data stays)
#   sh tests/lib/mariadb.sh sql DIR 'SQL'   run SQL as root in securechat
#
# The server runs as root only when the caller is root (--user=root: the
# directory may be private).  Nothing is left running on failure.
set -eu

die() { echo "mariadb.sh: $*" >&2; exit 1; }

find_prog() {
	for n in "$@"; do
		for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin /sbin /bin; do
			[ -x "$d/$n" ] && { echo "$d/$n"; return 0; }
		done
	done
	return 1
}

port_free() {
	# ss is in iproute2 (make deps); a listening socket on the port means taken.
	[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

client() {
	dir=$1; shift
	"$MYSQL" --no-defaults --protocol=socket -S "$dir/mysql.sock" -u root "$@"
}

start() {
	dir=$1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ${#dir} -lt 96 ] || die "$dir: too long for a unix socket path"
	INSTALL=$(find_prog mariadb-install-db mysql_install_db) ||
	    die "mariadb-install-db not found (make deps installs mariadb-server)"
	SERVER=$(find_prog mariadbd mysqld) || die "mariadbd not found"
	userarg=""
	[ "$(id -u)" = 0 ] && userarg="--user=root"
	if [ -f "$dir/mariadbd.pid" ] && kill -0 "$(cat "$dir/mariadbd.pid")" 2>/dev/null; then
		[ -f "$dir/db.conf" ] || die "a server runs in $dir but there is no db.conf"
		echo "$dir/db.conf"
		return 0
	fi
	if [ ! -d "$dir/data/mysql" ]; then
		"$INSTALL" --no-defaults --datadir="$dir/data" \
		    --auth-root-authentication-method=normal --skip-test-db \
		    --skip-name-resolve $userarg >"$dir/install.log" 2>&1 ||
		    { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
	fi
	if [ -f "$dir/port" ]; then
		port=$(cat "$dir/port")
	else
		port=""
		for try in 1 2 3 4 5 6 7 8 9 10; do
			p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
			if port_free "$p"; then port=$p; break; fi
		done
		[ -n "$port" ] || die "no free port found"
		echo "$port" >"$dir/port"
	fi
	# setsid: the server must not die with the terminal of `make demo`.
	setsid "$SERVER" --no-defaults --datadir="$dir/data" \
	    --socket="$dir/mysql.sock" --port="$port" --bind-address=127.0.0.1 \
	    --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.log" \
	    --tmpdir="$dir" --skip-name-resolve --skip-log-bin \
	    --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=2 \
	    --innodb-use-native-aio=0 --character-set-server=utf8mb4 \
	    --collation-server=utf8mb4_unicode_ci --max-connections=64 \
	    $userarg </dev/null >>"$dir/mariadbd.log" 2>&1 &
	srvpid=$!	# setsid execs in place: this is mariadbd
	MYSQL=$(find_prog mariadb mysql) || die "mariadb client not found"
	i=0
	until client "$dir" -e 'SELECT 1' >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then
			tail -n 30 "$dir/mariadbd.log" >&2
			stop "$dir" || true
			die "mariadbd not ready after 60 s"
		fi
		if ! kill -0 "$srvpid" 2>/dev/null; then
			tail -n 30 "$dir/mariadbd.log" >&2
			die "mariadbd exited during start-up"
		fi
		sleep 0.1
	done
	if [ ! -f "$dir/db.conf" ]; then
		pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
		client "$dir" <<-EOF
		CREATE DATABASE IF NOT EXISTS securechat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
		CREATE USER IF NOT EXISTS 'securechat'@'127.0.0.1' IDENTIFIED BY '$pw';
		CREATE USER IF NOT EXISTS 'securechat'@'localhost' IDENTIFIED BY '$pw';
		ALTER USER 'securechat'@'127.0.0.1' IDENTIFIED BY '$pw';
		ALTER USER 'securechat'@'localhost' IDENTIFIED BY '$pw';
		GRANT ALL PRIVILEGES ON securechat.* TO 'securechat'@'127.0.0.1';
		GRANT ALL PRIVILEGES ON securechat.* TO 'securechat'@'localhost';
		EOF
		umask 077
		cat >"$dir/db.conf.tmp" <<-EOF
		# written by tests/lib/mariadb.sh
		host = 127.0.0.1
		port = $port
		user = securechat
		password = $pw
		database = securechat
		EOF
		chmod 600 "$dir/db.conf.tmp"
		mv "$dir/db.conf.tmp" "$dir/db.conf"
	fi
	echo "$dir/db.conf"
}

stop() {
	dir=$1
	[ -f "$dir/mariadbd.pid" ] || return 0
	pid=$(cat "$dir/mariadbd.pid")
	kill "$pid" 2>/dev/null || { rm -f "$dir/mariadbd.pid"; return 0; }
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "mariadb.sh: mariadbd ignored SIGTERM; killing it" >&2
			kill -9 "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$dir/mariadbd.pid"
}

[ $# -ge 2 ] || die "usage: mariadb.sh start|stop DIR | sql DIR 'SQL'"
case $1 in
start)	start "$2" ;;
stop)	stop "$2" ;;
sql)	[ $# -eq 3 ] || die "usage: mariadb.sh sql DIR 'SQL'"
	MYSQL=$(find_prog mariadb mysql) || die "mariadb client not found"
	client "$2" -B securechat -e "$3" ;;
*)	die "unknown command $1" ;;
esac
