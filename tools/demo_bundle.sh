#!/usr/bin/env bash
# Builds the demo from nothing but this crate: simulate the world, pretrain its tiny CLIP,
# embed the stimuli, train a mapper (with its shuffled-label control and the ridge baseline)
# for each of the three simulated subjects and three training seeds, evaluate every one on
# the 50 novel categories, and put the three subjects' seed-0 mappers into one bundle (with
# their evaluations and sample recordings) in www/. The settings were chosen on the
# development split of the seen categories (tools/tune_mapper.sh); the novel categories are
# only evaluated here.
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
DENOISER_IMAGES=${DENOISER_IMAGES:-4000}
DENOISER_EPOCHS=${DENOISER_EPOCHS:-48}
DISTILL_IMAGES=${DISTILL_IMAGES:-4000}
DISTILL_EPOCHS=${DISTILL_EPOCHS:-6}
GUIDANCE_CHOICES=${GUIDANCE_CHOICES:-"1 2 4"}
STRENGTH_CHOICES=${STRENGTH_CHOICES:-"1 0.9 0.75 0.6 0.5 0.4 0.3"}
B=${CARGO_TARGET_DIR:-target}/release/brainclip
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

# fMRI → image (README, "Reconstruction"): the tiny autoencoder and the teacher denoiser
# learn from fresh world images (never the protocol's stimuli); the teacher is distilled
# 8 → 4 → 2 → 1 steps with its guidance baked in; every subject's seed-0 bundle gains the
# 4-step student and a low-level head fitted on its training fMRI.
D=$BUILD/diffusion
mkdir -p "$D"
[ -f "$D/autoencoder/config.json" ] || $B train-autoencoder --out "$D/autoencoder" --resume \
  >> "$D/autoencoder.log"
[ -f "$D/teacher/history.json" ] || $B train-denoiser --out "$D/teacher" \
  --autoencoder "$D/autoencoder" --clip "$C" --images "$DENOISER_IMAGES" \
  --epochs "$DENOISER_EPOCHS" --batch-size 32 --resume >> "$D/teacher.log"
# The guidance baked into the students is chosen on the development split: the teacher
# (50 steps) draws the 200 development stimuli (seen categories, not the test's) from their
# own CLIP embeddings, and the guidance whose images CLIP identifies best (2-way) wins.
T=$D/teacher-bundle
if [ ! -f "$T/manifest.json" ]; then
  rm -rf "$T" && cp -r "$BUILD/$SHIPPED-seed0" "$T"
  $B add-decoder --bundle "$T" --autoencoder "$D/autoencoder" --denoiser "$D/teacher" > /dev/null
fi
[ -f "$D/dev_test_image_embeddings.npy" ] || $B embed-images --clip "$T" \
  --ids "$W/dev_test_stimulus_ids.json" --dir "$W/stimuli" --out "$D/dev_test_image_embeddings.npy"
for guidance in $GUIDANCE_CHOICES; do
  out=$D/guidance-$guidance.json
  [ -f "$out" ] || { $B eval --bundle "$T" \
    --fmri "$W/$SHIPPED/dev_test_fmri.npy" --labels "$W/dev_test_labels.json" \
    --image-embeddings "$D/dev_test_image_embeddings.npy" --reconstruct --reconstruct-from seen \
    --stimuli "$W/stimuli" --stimulus-ids "$W/dev_test_stimulus_ids.json" --steps 50 \
    --guidance "$guidance" --json > "$out.partial" && mv "$out.partial" "$out"; }
done
GUIDANCE=$(node -e '
  const [dir, ...choices] = process.argv.slice(1);
  const score = (g) => require(`${dir}/guidance-${g}.json`).reconstruction
    .find((m) => m.id === "clip_two_way").value;
  for (const g of choices) console.error(`guidance ${g}: development CLIP 2-way ${score(g).toFixed(3)}`);
  console.log(choices.reduce((best, g) => (score(g) > score(best) ? g : best)));
' "$PWD/$D" $GUIDANCE_CHOICES)
echo "$GUIDANCE" > "$D/guidance.txt"
[ -f "$D/students/steps-1/history.json" ] || $B distill --teacher "$D/teacher" \
  --out "$D/students" --autoencoder "$D/autoencoder" --clip "$C" --images "$DISTILL_IMAGES" \
  --epochs "$DISTILL_EPOCHS" --batch-size 32 --teacher-steps 8 --steps 1 \
  --guidance "$GUIDANCE" --resume >> "$D/distill.log"
# The img2img strength every low-level head starts from by default is chosen on the
# development split too: per subject, a mapper (the demo's settings) and a head fitted on
# dev-train reconstruct the dev-test trials with the 4-step student, and the strength with the
# best CLIP 2-way averaged over the subjects wins (1: from noise). The shipped mappers saw the
# dev-test trials in training, so they cannot be the judges.
[ -f "$W/dev_train_image_embeddings.npy" ] || $B embed-images --clip "$C" \
  --ids "$W/dev_train_stimulus_ids.json" --dir "$W/stimuli" --out "$W/dev_train_image_embeddings.npy"
for subject in $SUBJECTS; do
  V=$D/dev-$subject
  if ! grep -q '"low_level"' "$V/manifest.json" 2>/dev/null; then
    rm -rf "$V"
    $B train-mapper --fmri "$W/$subject/dev_train_fmri.npy" \
      --image-embeddings "$W/dev_train_image_embeddings.npy" --captions "$W/dev_train_captions.json" \
      --clip "$C" --stimulus-ids "$W/dev_train_stimulus_ids.json" --hidden 256 --blocks 2 \
      --latent 128 --epochs 60 --patience 15 --seed 0 --out "$V" --no-controls --simulated \
      --bundle-clip > "$V.log"
    $B add-decoder --bundle "$V" --autoencoder "$D/autoencoder" \
      --denoiser "$D/students/steps-4" > /dev/null
    $B train-low-level --bundle "$V" --fmri "$W/$subject/dev_train_fmri.npy" \
      --stimuli "$W/stimuli" --stimulus-ids "$W/dev_train_stimulus_ids.json" >> "$V.log"
  fi
  for strength in $STRENGTH_CHOICES; do
    out=$D/strength-$subject-$strength.json
    [ -f "$out" ] || { $B eval --bundle "$V" --fmri "$W/$subject/dev_test_fmri.npy" \
      --labels "$W/dev_test_labels.json" --reconstruct --strength "$strength" \
      --stimuli "$W/stimuli" --stimulus-ids "$W/dev_test_stimulus_ids.json" \
      --json > "$out.partial" && mv "$out.partial" "$out"; }
  done
done
STRENGTH=$(node -e '
  const [dir, subjects, ...choices] = process.argv.slice(1);
  const score = (s) => subjects.split(" ").map((subject) =>
    require(`${dir}/strength-${subject}-${s}.json`).reconstruction
      .find((m) => m.id === "clip_two_way").value).reduce((a, b) => a + b) / subjects.split(" ").length;
  for (const s of choices) console.error(`strength ${s}: development CLIP 2-way ${score(s).toFixed(3)}`);
  console.log(choices.reduce((best, s) => (score(s) > score(best) ? s : best)));
' "$PWD/$D" "$SUBJECTS" $STRENGTH_CHOICES)
echo "$STRENGTH" > "$D/strength.txt"
for subject in $SUBJECTS; do
  S=$D/$subject
  if ! grep -q '"low_level"' "$S/manifest.json" 2>/dev/null; then
    rm -rf "$S" && cp -r "$BUILD/$subject-seed0" "$S"
    $B add-decoder --bundle "$S" --autoencoder "$D/autoencoder" \
      --denoiser "$D/students/steps-4" --f16 > /dev/null
    $B train-low-level --bundle "$S" --fmri "$W/$subject/train_fmri.npy" \
      --stimuli "$W/stimuli" --stimulus-ids "$W/train_stimulus_ids.json" --f16 \
      --strength "$STRENGTH" > "$S.low-level.log"
  fi
  # Where each voxel lies on the simulated cortical sheet, for the page's brain view (a world
  # simulated before the areas file existed gets it from a fresh, identical simulation).
  if [ ! -f "$W/voxel_sheet_areas.json" ]; then
    rm -rf "$BUILD/world-again" && $B sim world --out "$BUILD/world-again" > /dev/null
    cp "$BUILD/world-again/voxel_sheet_areas.json" "$W/" && rm -rf "$BUILD/world-again"
  fi
  grep -q '"voxel_sheet"' "$S/manifest.json" || $B add-voxel-sheet --bundle "$S" \
    --coordinates "$W/$subject/voxel_sheet.npy" --areas "$W/voxel_sheet_areas.json" --f16 > /dev/null
done

# One bundle for the page: subject 1's, joined by subjects 2 and 3 (the CLIP and image
# decoder they share are stored once), every matrix of 16,384 entries or more as int8 (the
# autoencoder kept as it is). Each subject's evaluation is of this bundle on its shipped
# sample, so the page's numbers can be checked against it.
SHIP=$BUILD/shipped
rm -rf "$SHIP" && mkdir -p "$SHIP"
cp "$D/$SHIPPED/manifest.json" "$D/$SHIPPED"/*.safetensors "$SHIP/"
# The 2- and 1-step students join the 4-step one, so the page offers 1, 2 or 4 steps.
with_students() {
  $B add-decoder --bundle "$1" --autoencoder "$D/autoencoder" --denoiser "$D/students/steps-4" \
    --also-denoiser "$D/students/steps-2" --also-denoiser "$D/students/steps-1" --f16 > /dev/null
}
with_students "$SHIP"
for subject in $SUBJECTS; do
  [ "$subject" = "$SHIPPED" ] && continue
  rm -rf "$BUILD/one-$subject" && mkdir -p "$BUILD/one-$subject"
  cp "$D/$subject/manifest.json" "$D/$subject"/*.safetensors "$BUILD/one-$subject/"
  with_students "$BUILD/one-$subject"
  $B add-subject --bundle "$SHIP" --from "$BUILD/one-$subject" --name "$subject" \
    --default-name "$SHIPPED" > /dev/null
  rm -rf "$BUILD/one-$subject"
done
# quantize also records every file's size and SHA-256 in the manifest (what `seal` does).
$B quantize --bundle "$SHIP" --keep autoencoder --min-entries 16384
# Embedded by this bundle's own (int8) CLIP, as the page embeds them; the bundle is rebuilt
# every run, so they are too.
$B embed-images --clip "$SHIP" \
  --ids "$W/test_stimulus_ids.json" --dir "$W/stimuli" --out "$SHIP-test_image_embeddings.npy"
for subject in $SUBJECTS; do
  dir=$SHIP; [ "$subject" = "$SHIPPED" ] || dir=$SHIP/$subject
  $B eval --bundle "$SHIP" --subject "$subject" --fmri "$W/$subject/test_fmri.npy" \
    --labels "$W/test_labels.json" --candidates "$W/novel_categories.json" \
    --image-embeddings "$SHIP-test_image_embeddings.npy" --json > "$dir/eval.json"
done
cp "$R/summary.json" "$SHIP/summary.json"

rm -rf www/models/demo && mkdir -p www/models www/samples/stimuli
cp -r "$SHIP" www/models/demo
rm -f www/samples/*-test-fmri.npy
for subject in $SUBJECTS; do cp "$W/$subject/test_fmri.npy" "www/samples/$subject-test-fmri.npy"; done
cp "$W/test_labels.json" www/samples/test-labels.json
cp "$W/novel_categories.json" www/samples/novel-categories.json
rm -f www/samples/stimuli/*.png
node -e 'for (const id of require(process.argv[1])) console.log(id)' "$PWD/$W/test_stimulus_ids.json" \
  | while read -r id; do cp "$W/stimuli/$id.png" www/samples/stimuli/; done
cp "$W/test_stimulus_ids.json" www/samples/test-stimulus-ids.json
echo "demo bundle written to www/models/demo/"
