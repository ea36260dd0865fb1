// The test run writes the screenshots of every view at desktop and phone width
// (target/screenshots/, the set tools/screenshots.mjs writes for review into docs/site/):
// each a PNG of a drawn page, the full-page ones at their viewport's width.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { serveSite, launch } from './browser.mjs';
import { takeScreenshots, VIEWS, WIDTHS } from '../../tools/screenshots.mjs';

const OUT = 'target/screenshots';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** Width and height from a PNG's IHDR chunk. */
function pngSize(path) {
  const bytes = readFileSync(path);
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', `${path} is a PNG`);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), bytes: bytes.length };
}

test('the run writes a screenshot of every view at desktop and phone width (CPU)', async (t) => {
  rmSync(OUT, { recursive: true, force: true });
  const browser = await launch({ webgpu: false });
  try {
    const written = await takeScreenshots({ url: site.url, out: OUT, browser });
    const expected = Object.keys(WIDTHS).flatMap((name) => VIEWS.map((view) => `${OUT}/${view}-${name}.png`));
    assert.deepEqual([...written].sort(), [...expected].sort());
    for (const [name, width] of Object.entries(WIDTHS)) {
      const first = pngSize(`${OUT}/first-view-${name}.png`);
      assert.deepEqual([first.width, first.height], [width, 900], `first view at ${name} width`);
      for (const view of VIEWS) {
        const size = pngSize(`${OUT}/${view}-${name}.png`);
        t.diagnostic(`${view}-${name}: ${size.width} × ${size.height}, ${size.bytes} bytes`);
        assert.ok(size.width <= width && size.width > width / 3, `${view}-${name} spans the page`);
        // A blank or empty section compresses to almost nothing.
        assert.ok(size.bytes > 4000, `${view}-${name} has content`);
      }
    }
  } finally {
    await browser.close();
  }
});
