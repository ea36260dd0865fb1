#!/usr/bin/env bash
# Builds the demo from nothing but this crate: simulate the world, pretrain its tiny CLIP,
# embed the stimuli, train a mapper (with its shuffled-label control and the ridge baseline)
# for each of the three simulated subjects and three training seeds, evaluate every one on
# the 50 novel categories, and copy subject 1's seed-0 bundle, its evaluation and a sample
# recording into www/. The settings were chosen on the development split of the seen
# categories (tools/tune_mapper.sh); the novel categories are only evaluated here.
#
# Every step is skipped when its output exists, and the training steps resume from their
# checkpoints, so an interrupted run picks up where it was.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/demo}
CLIP_EPOCHS=${CLIP_EPOCHS:-80}
CLIP_WARMUP=${CLIP_WARMUP:-20}
CLIP_IMAGES=${CLIP_IMAGES:-40}
SEEDS=${SEEDS:-"0 1 2"}
SUBJECTS=${SUBJECTS:-"sub-01 sub-02 sub-03"}
SHIPPED=sub-01
B=target/release/brainclip
cargo build --release --bin brainclip
W=$BUILD/world C=$BUILD/clip R=$BUILD/results
mkdir -p "$BUILD" "$R"

[ -f "$W/world.json" ] || $B sim world --out "$W"
# The world's CLIP sees 32 × 32 images in 4 × 4 patches of 8 pixels: 16 tokens train fast
# enough on 2 cores to learn shape as well as colour (see README, "The simulated world").
mkdir -p "$C"
[ -f "$C/clip32.json" ] || cat > "$C/clip32.json" <<'EOF'
{"text_config": {"vocab_size": 49408, "hidden_size": 64, "intermediate_size": 256,
  "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 32,
  "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "eos_token_id": 49407},
 "vision_config": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
  "num_attention_heads": 4, "image_size": 32, "patch_size": 8, "num_channels": 3,
  "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05},
 "projection_dim": 64, "logit_scale_init_value": 2.6592, "model_type": "clip"}
EOF
[ -f "$C/model.safetensors" ] || $B train-clip --out "$C" --config "$C/clip32.json" \
  --images-per-category "$CLIP_IMAGES" --fresh-images --epochs "$CLIP_EPOCHS" --lr 1e-3 \
  --weight-decay 0.01 --token-init-std 0.2 --warmup-caption-epochs "$CLIP_WARMUP" --resume
[ -f "$W/train_image_embeddings.npy" ] || $B embed-images --clip "$C" \
  --ids "$W/train_stimulus_ids.json" --dir "$W/stimuli" --out "$W/train_image_embeddings.npy"

for subject in $SUBJECTS; do
  for seed in $SEEDS; do
    M=$BUILD/$subject-seed$seed
    [ -f "$M/manifest.json" ] || $B train-mapper --fmri "$W/$subject/train_fmri.npy" \
      --image-embeddings "$W/train_image_embeddings.npy" --captions "$W/train_captions.json" \
      --clip "$C" --stimulus-ids "$W/train_stimulus_ids.json" \
      --label-set "test-categories=$W/novel_categories.json" --hidden 256 --blocks 2 --latent 128 \
      --epochs 60 --patience 15 --seed "$seed" --out "$M" --resume --simulated --bundle-clip --f16 \
      --name "brainclip demo: simulated $subject" \
      --provenance "simulated world (brainclip sim world, seed 0), $subject; tiny CLIP pretrained on world images by brainclip train-clip; mapper (seed $seed), its shuffled-label control and ridge baseline by brainclip train-mapper" \
      --license "MIT OR Apache-2.0" > "$M.log"
    # The test stimuli embedded by the bundle's own (f16) CLIP, as the page embeds them.
    [ -f "$M/test_image_embeddings.npy" ] || $B embed-images --clip "$M" \
      --ids "$W/test_stimulus_ids.json" --dir "$W/stimuli" --out "$M/test_image_embeddings.npy"
    [ -f "$R/$subject-seed$seed.json" ] || $B eval --bundle "$M" --fmri "$W/$subject/test_fmri.npy" \
      --labels "$W/test_labels.json" --candidates "$W/novel_categories.json" \
      --image-embeddings "$M/test_image_embeddings.npy" --json > "$R/$subject-seed$seed.json"
  done
done
node tools/demo_summary.mjs "$R" "$R/summary.json" | tee "$R/summary.md"

M=$BUILD/$SHIPPED-seed0
rm -rf www/models/demo && mkdir -p www/models/demo www/samples/stimuli
cp "$M/manifest.json" "$M"/*.safetensors www/models/demo/
cp "$R/$SHIPPED-seed0.json" www/models/demo/eval.json
cp "$R/summary.json" www/models/demo/summary.json
cp "$W/$SHIPPED/test_fmri.npy" "www/samples/$SHIPPED-test-fmri.npy"
cp "$W/test_labels.json" www/samples/test-labels.json
cp "$W/novel_categories.json" www/samples/novel-categories.json
rm -f www/samples/stimuli/*.png
node -e 'for (const id of require(process.argv[1])) console.log(id)' "$PWD/$W/test_stimulus_ids.json" \
  | while read -r id; do cp "$W/stimuli/$id.png" www/samples/stimuli/; done
cp "$W/test_stimulus_ids.json" www/samples/test-stimulus-ids.json
echo "demo bundle written to www/models/demo/"
