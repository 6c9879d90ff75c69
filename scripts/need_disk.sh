#!/usr/bin/env bash
# Refuse to start a large install in a folder without room for it: one line naming the folder,
# what it has and what it needs, instead of pip's "No space left on device" half-way through a
# multi-GB venv (torch's CUDA build: ~5.8 GB in the venv, plus pip's unpacking space).
#
#   scripts/need_disk.sh DIR GB     exit 0 when DIR's file system has GB gibibytes free, else 1
set -euo pipefail

[ $# = 2 ] || { echo "usage: $0 DIR GB" >&2; exit 2; }
dir=$1 need_gb=$2
free_kb=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
need_kb=$(( need_gb * 1024 * 1024 ))
if [ "$free_kb" -lt "$need_kb" ]; then
  echo "need_disk: $(cd "$dir" && pwd) has $(( free_kb / 1024 / 1024 )) GiB free, the venv needs about" \
       "$need_gb GiB: free some space there (old clones, ~/.cache/pip, /tmp) or clone elsewhere" >&2
  exit 1
fi
