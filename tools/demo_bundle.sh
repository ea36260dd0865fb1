#!/usr/bin/env bash
# Builds the demo bundle from nothing but this crate: simulate the world, pretrain its tiny
# CLIP, embed the stimuli, train subject 1's mapper, evaluate it, and copy the bundle and a
# sample recording into www/. Every step is skipped when its output exists, and the two
# training steps resume from their checkpoints, so an interrupted run picks up where it was.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/demo}
CLIP_EPOCHS=${CLIP_EPOCHS:-50}
CLIP_IMAGES=${CLIP_IMAGES:-40}
MAPPER_EPOCHS=${MAPPER_EPOCHS:-60}
SUBJECT=${SUBJECT:-sub-01}
B=target/release/brainclip
cargo build --release --bin brainclip
W=$BUILD/world C=$BUILD/clip M=$BUILD/$SUBJECT
mkdir -p "$BUILD"

[ -f "$W/world.json" ] || $B sim world --out "$W"
[ -f "$C/model.safetensors" ] || $B train-clip --out "$C" --images-per-category "$CLIP_IMAGES" \
  --epochs "$CLIP_EPOCHS" --lr 3e-3 --resume
for split in train test; do
  [ -f "$W/${split}_image_embeddings.npy" ] || $B embed-images --clip "$C" \
    --ids "$W/${split}_stimulus_ids.json" --dir "$W/stimuli" --out "$W/${split}_image_embeddings.npy"
done
[ -f "$M/manifest.json" ] || $B train-mapper --fmri "$W/$SUBJECT/train_fmri.npy" \
  --image-embeddings "$W/train_image_embeddings.npy" --captions "$W/train_captions.json" \
  --clip "$C" --stimulus-ids "$W/train_stimulus_ids.json" --label-set "test-categories=$W/novel_categories.json" --hidden 256 --blocks 2 --latent 128 \
  --epochs "$MAPPER_EPOCHS" --patience 15 --out "$M" --resume --simulated --bundle-clip --f16 \
  --name "brainclip demo: simulated $SUBJECT" \
  --provenance "simulated world (brainclip sim world, seed 0), $SUBJECT; tiny CLIP pretrained on world images by brainclip train-clip; mapper by brainclip train-mapper" \
  --license "MIT OR Apache-2.0"
$B eval --bundle "$M" --fmri "$W/$SUBJECT/test_fmri.npy" --labels "$W/test_labels.json" \
  --candidates "$W/novel_categories.json" --image-embeddings "$W/test_image_embeddings.npy" \
  --json > "$M/eval.json"
cat "$M/eval.json"

mkdir -p www/models/demo www/samples
cp "$M/manifest.json" "$M"/*.safetensors www/models/demo/
cp "$M/eval.json" www/models/demo/eval.json
cp "$W/$SUBJECT/test_fmri.npy" "www/samples/$SUBJECT-test-fmri.npy"
cp "$W/test_labels.json" www/samples/test-labels.json
cp "$W/novel_categories.json" www/samples/novel-categories.json
mkdir -p www/samples/stimuli
node -e 'for (const id of require(process.argv[1])) console.log(id)' "$PWD/$W/test_stimulus_ids.json" \
  | while read -r id; do cp "$W/stimuli/$id.png" www/samples/stimuli/; done
cp "$W/test_stimulus_ids.json" www/samples/test-stimulus-ids.json
echo "demo bundle written to www/models/demo/"
