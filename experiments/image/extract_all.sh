#!/bin/sh
# Fill the feature cache for the image v2 experiments and training, one job at a time (2 shared cores):
#   nohup sh experiments/image/extract_all.sh > /tmp/img_extract_all.log 2>&1 &
set -e
PY=.venv/bin/python
CAP=${CAP:-30}
JOBS=${JOBS:-"clip:as-is clip:jpeg90 forensic:as-is forensic:jpeg90 mnv2:as-is mnv2:jpeg90 effnet:as-is effnet:jpeg90 clip:aug forensic:aug mnv2:aug effnet:aug"}
for job in $JOBS; do
  job=$(echo "$job" | tr ':' ' ')
  set -- $job
  crops=centre
  [ "$1" = mnv2 ] && crops=""
  echo "=== $1 $2 $(date +%H:%M:%S)"
  $PY experiments/image/extract.py --stream "$1" --view "$2" --cap "$CAP" --crops "$crops" 2>&1 | grep -v "it/s\]" | tail -20
done
echo "=== done $(date +%H:%M:%S)"
