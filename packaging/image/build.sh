#!/usr/bin/env bash
# Builds Rumi's runtime image without any image registry: a minimal Debian bookworm root
# (debootstrap, minbase) with python3, pip (used only by the pip builder containers that
# install approved requirements.lock files) and CA certificates, imported with `docker import`.
#
#   packaging/image/build.sh [IMAGE]      (default: $RUMI_RUNTIME_IMAGE or rumi-runtime:bookworm)
#
# Needs root, debootstrap and a running Docker engine. Takes about half a minute.
set -euo pipefail
image=${1:-${RUMI_RUNTIME_IMAGE:-rumi-runtime:bookworm}}
mirror=${RUMI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
die() { echo "rumi image build: $*" >&2; exit 1; }

# What is missing, said before minutes are spent.
[ "$(id -u)" = 0 ] || die "needs root (debootstrap creates device nodes and chowns files): run it with sudo"
command -v debootstrap >/dev/null || die "debootstrap is not installed: apt-get install -y debootstrap"
command -v docker >/dev/null || die "the docker client is not installed: apt-get install -y docker.io"
docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' failed): start dockerd (systemctl start docker)"

root=$(mktemp -d /tmp/rumi-image.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT

echo "==> debootstrap bookworm (minbase, python3, python3-pip, ca-certificates) from $mirror (a few minutes)"
# Progress: each phase of debootstrap once, with how many packages it went through.
set +e
debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates bookworm "$root" "$mirror" 2>&1 \
    | tee "$root.log" \
    | awk '/^I: / { verb = $2; if (verb != last) { if (n) printf "    (%d)\n", n; printf "    %s\n", $0; last = verb; n = 0 } n++; fflush() }
           END { if (n) printf "    (%d)\n", n }'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "---- the last lines of debootstrap's log ----" >&2
    tail -15 "$root.log" >&2
    if grep -qiE "couldn't download|failed getting release|temporary failure resolving|connection refused|unable to fetch" "$root.log"; then
        die "debootstrap cannot download from $mirror: check the network or set RUMI_DEBIAN_MIRROR"
    fi
    if grep -qiE "no space left" "$root.log"; then
        die "debootstrap ran out of disk space under /tmp"
    fi
    die "debootstrap failed (exit $status); its log is above"
fi
rm -f "$root.log"
echo "==> trimming caches and docs"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
echo "==> docker import as $image"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'LABEL rumi.runtime=1' \
    - "$image" >/dev/null
docker run --rm --network=none "$image" python3 -c 'import ssl, json, pip; print("python", __import__("sys").version.split()[0], "pip", pip.__version__, "ok")'
echo "==> built $image"
