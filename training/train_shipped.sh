#!/usr/bin/env bash
# Retrains the models shipped under models/ (other than Monet, see `make train/monet`) with
# the project's recipe, into .train/<artist>/<version>: the AI-image detector on every
# generator, the detector three more times with one generator left out of training each time
# (leave-one-generator-out, kept in .train only), Van Gogh and Paul Cezanne. 10 to 20 minutes
# per model on 2 CPU cores. The detector on every generator runs the Monet recipe's 30 epochs
# at most; the others stop after 20 (EPOCHS) to fit an afternoon on 2 cores: the Monet model
# kept epoch 16 and the detector's validation loss had flattened by then. Usage: training/train_shipped.sh [name...], names as in the case
# below; no name trains them all.
set -euo pipefail
cd "$(dirname "$0")/.."
ART=${ART:-../shared/data/art}
OUT=${OUT:-.train}
PY=/usr/bin/python3
# The recipe of models/monet/0.1.0: ResNet-18 from random weights (no ImageNet weights can be
# downloaded here), 128 px, threshold for a 5% validation false-positive rate.
RECIPE=(--arch resnet18 --size 128 --lr 1e-3 --stop-patience 8 --weights-dtype float16)
EPOCHS=${EPOCHS:-20}

GENS=(cyclegan-resnet_kaggle-exp2_konstantine25b cyclegan-unet-ngf16_kaggle-exp4_konstantine25b
      stylepix2pix-monet-label_jrtaloma)
# Painters other than the one named, each its own group of negatives.
others_except() {
  local d
  for d in "$ART"/other_artists/*/; do
    [[ $(basename "$d") == "$1" ]] || printf -- '--negative\n%s\n' "${d%/}"
  done
}

train() { # artist version log-name args...
  local artist=$1 version=$2; shift 2
  mkdir -p "$OUT/logs"
  echo "train_shipped: $artist@$version -> $OUT/$artist/$version"
  "$PY" training/train.py --artist "$artist" --version "$version" "${RECIPE[@]}" \
    --epochs "$EPOCHS" --out "$OUT/$artist/$version" --force "$@" > "$OUT/logs/$artist-$version.log" 2>&1
  cp "$OUT/logs/$artist-$version.log" "$OUT/$artist/$version/train.log"
}

detector() { # version held-out-generator-or-empty
  local version=$1 out=$2 args=() g
  for g in "${GENS[@]}"; do
    [[ $g == "$out" ]] || args+=(--positive "$ART/ai_monet_style/$g")
  done
  # The Van Gogh imitations come from the same generator as stylepix2pix-monet: they are
  # left out with it.
  [[ $out == stylepix2pix-monet-label_jrtaloma ]] ||
    args+=(--positive "$ART/ai_other_style/stylepix2pix-vangogh-label_jrtaloma")
  train ai-detector "$version" "${args[@]}" \
    --negative "$ART/monet" --negative "$ART/other_artists" \
    --notes "AI-made vs human-made painting${out:+; generator left out of training: $out}"
}

run() {
  case $1 in
    detector) EPOCHS=30 detector 0.1.0 "" ;;
    vangogh) mapfile -t neg < <(others_except vincent_van_gogh)
      train vangogh 0.1.0 --positive "$ART/other_artists/vincent_van_gogh" \
        --negative "$ART/monet" "${neg[@]}" ;;
    cezanne) mapfile -t neg < <(others_except paul_cezanne)
      train cezanne 0.1.0 --positive "$ART/other_artists/paul_cezanne" \
        --negative "$ART/monet" "${neg[@]}" ;;
    logo-resnet) detector 0.1.0-logo-cyclegan-resnet "${GENS[0]}" ;;
    logo-unet) detector 0.1.0-logo-cyclegan-unet "${GENS[1]}" ;;
    logo-stylepix2pix) detector 0.1.0-logo-stylepix2pix "${GENS[2]}" ;;
    *) echo "train_shipped: unknown model $1" >&2; exit 2 ;;
  esac
}

if (($# == 0)); then
  set -- detector vangogh cezanne logo-resnet logo-unet logo-stylepix2pix
fi
for m in "$@"; do run "$m"; done
