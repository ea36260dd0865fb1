#!/usr/bin/env bash
# The reconstruction results the README and docs/reconstruction.md show, from the demo's
# decoders (tools/demo_bundle.sh): for each simulated subject, every variant scored on its 50
# test trials by `brainclip eval --reconstruct` (the library's one scoring path), and the
# image grids (seen | 4-step student | low-level | teacher). Settings are the bundle's;
# nothing here is tuned on the test trials.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/demo}
SUBJECTS=${SUBJECTS:-"sub-01 sub-02 sub-03"}
B=${CARGO_TARGET_DIR:-target}/release/brainclip
W=$BUILD/world D=$BUILD/diffusion
OUT=$D/report
mkdir -p "$OUT" docs/reconstruction
# The guidance the students have baked in (chosen on the development split): the teacher is
# sampled with it too.
G=$(cat "$D/guidance.txt")
# The img2img strength the shipped heads start from by default (chosen on the development
# split); every other sampled row starts from noise (strength 1) so the rows compare.
STRENGTH=$(cat "$D/strength.txt")
cargo build --release --bin brainclip

for subject in $SUBJECTS; do
  S=$D/$subject
  # The same subject's bundle with another denoiser: the other students and the teacher.
  for variant in steps-2 steps-1 teacher; do
    V=$OUT/$subject-$variant
    if [ ! -f "$V/manifest.json" ]; then
      cp -r "$S" "$V"
      denoiser=$D/students/$variant
      [ "$variant" = teacher ] && denoiser=$D/teacher
      $B add-decoder --bundle "$V" --autoencoder "$D/autoencoder" --denoiser "$denoiser" \
        --f16 > /dev/null
    fi
  done
  run() { # name bundle [eval options]
    local name=$1 bundle=$2
    shift 2
    local out=$OUT/$subject-$name.json
    # Written aside and moved into place, so an interrupted run leaves no half file.
    [ -f "$out" ] || { $B eval --bundle "$bundle" \
      --fmri "$W/$subject/test_fmri.npy" --labels "$W/test_labels.json" \
      --candidates "$W/novel_categories.json" \
      --image-embeddings "$BUILD/$subject-seed0/test_image_embeddings.npy" \
      --reconstruct --stimuli "$W/stimuli" --stimulus-ids "$W/test_stimulus_ids.json" \
      --json "$@" > "$out.partial" && mv "$out.partial" "$out"; }
  }
  run teacher-50 "$OUT/$subject-teacher" --steps 50 --guidance "$G" --strength 1
  run student-4 "$S" --strength 1
  run student-2 "$OUT/$subject-steps-2" --strength 1
  run student-1 "$OUT/$subject-steps-1" --strength 1
  run low-level "$S" --reconstruct-from low-level
  run student-4-img2img "$S" --strength "$STRENGTH"
  run seen-teacher-50 "$OUT/$subject-teacher" --steps 50 --guidance "$G" --reconstruct-from seen
  run seen-student-4 "$S" --reconstruct-from seen
  run autoencoder "$S" --reconstruct-from autoencoder
  # Grids for the figure, ten trials to a row in trial order.
  F=$OUT/$subject
  [ -f "$F-student-4.png" ] || $B reconstruct --bundle "$S" --fmri "$W/$subject/test_fmri.npy" \
    --out "$F-student-4.png" > /dev/null
  [ -f "$F-low-level.png" ] || $B reconstruct --bundle "$S" --fmri "$W/$subject/test_fmri.npy" \
    --out "$F-low-level.png" --low-level > /dev/null
  [ -f "$F-teacher-50.png" ] || $B reconstruct --bundle "$OUT/$subject-teacher" \
    --fmri "$W/$subject/test_fmri.npy" --steps 50 --guidance "$G" --strength 1 \
    --out "$F-teacher-50.png" > /dev/null
done
node tools/reconstruction_table.mjs "$OUT" "$STRENGTH" > docs/reconstruction/table.md
# The figure needs Pillow (Debian: python3-pil); everything above needs only brainclip.
python3 tools/reconstruction_figure.py "$OUT" "$W" docs/reconstruction
echo "docs/reconstruction/ written"
