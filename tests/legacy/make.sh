#!/usr/bin/env bash
# Writes the checkpoints (and what inference made from them) that tests/test_legacy.py reloads. Run once,
# by cgan 0.1.0 at commit d67b2c6, before the start-up refactor: later code must still read these files and
# make the same images from them. Re-running it with newer code defeats its purpose.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/legacy
work=$(mktemp -d)
python - "$work" <<'PY'
import sys
from pathlib import Path
sys.path[:0] = ["tests", "."]
from cgan_cli.data.demo import write_demo
from helpers_captions import write_captioned
from helpers_classes import write_classes
w = Path(sys.argv[1])
write_demo(w / "demo", train=6, test=2, size=32)
write_classes(w / "classes", per_class=3)
write_captioned(w / "captions", per_kind=1)
PY
mkdir -p "$out/inputs"
cp "$work"/demo/test/*.png "$out/inputs/"
tiny="--steps 2 --save-every 1000 --sample-every 1000 --log-every 1 --workers 0 --device cpu --seed 3"
latent="--image-size 32 --ngf 4 --ndf 4 --batch-size 4 --z-dim 8"
text="--clip-model cgan-tiny --clip-pretrained none --image-size 32 --ngf 4 --ndf 4 --batch-size 4"
cgan() { python -m cgan_cli "$@"; }
cgan train pix2pix --paired "$work/demo" --net-g unet_32 --ngf 4 --ndf 4 --load-size 36 --crop-size 32 -o "$work/pix2pix" $tiny
cgan train cyclegan --domain-a "$work/demo/train" --domain-b "$work/demo/test" --net-g resnet_6blocks --ngf 4 --ndf 4 \
  --load-size 36 --crop-size 32 -o "$work/cyclegan" $tiny
cgan train stargan --domains "$work/classes" --image-size 32 --g-conv-dim 4 --d-conv-dim 4 --g-repeat-num 1 \
  --batch-size 4 --n-critic 1 -o "$work/stargan" $tiny
cgan train dcgan --images "$work/classes" $latent --ema 0.9 -o "$work/dcgan" $tiny
cgan train cgan --classes "$work/classes" $latent -o "$work/cgan" $tiny
cgan train acgan --classes "$work/classes" $latent -o "$work/acgan" $tiny
cgan train gancls --captions "$work/captions" $text -o "$work/gancls" $tiny
cgan train gigagan --captions "$work/captions" $text --z-dim 16 --w-dim 16 --t-dim 16 --channel-max 32 --pyramid 3 \
  --heads 2 -o "$work/gigagan" $tiny
for f in pix2pix cyclegan stargan dcgan cgan acgan gancls gigagan; do
  cp "$work/$f/latest.safetensors" "$out/$f.safetensors"
done
rm -rf "$out/made" && mkdir -p "$out/made"
# fp32: translate's `auto` is bf16 autocast on CPUs with bf16 units, and the images must not depend on the CPU
cgan translate "$out/pix2pix.safetensors" "$out/inputs" -o "$out/made/pix2pix" --device cpu --aligned --precision fp32 > /dev/null
cgan translate "$out/cyclegan.safetensors" "$out/inputs" -o "$out/made/cyclegan" --device cpu --precision fp32 > /dev/null
cgan translate "$out/stargan.safetensors" "$out/inputs" -o "$out/made/stargan" --to green --device cpu --precision fp32 > /dev/null
for f in dcgan cgan acgan; do
  cgan sample "$out/$f.safetensors" -n 4 -o "$out/made/$f" --device cpu > /dev/null
done
for f in gancls gigagan; do
  cgan text2img "$out/$f.safetensors" "a red circle" -n 2 -o "$out/made/$f" --device cpu > /dev/null
done
rm -rf "$work"
