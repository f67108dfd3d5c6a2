// Drives a session's timelapse strip on the status page in headless Debian chromium (playwright-core). Usage:
//   node status-page-timelapse.check.js <agent base url> <session id> <test-tools dir> <screenshot path>
// Prints one line per check; exits non-zero on the first failure.
const [base, sessionId, tools, screenshot] = process.argv.slice(2);
const { chromium } = require(require('node:path').join(tools, 'node_modules', 'playwright-core'));

const launch = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
};
const TIMEOUT = { timeout: 30000 };

function check(condition, what) {
  if (!condition) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

async function allFrames(page) {
  const frames = [];
  let cursor = null;
  do {
    const response = await page.request.get(base + '/api/v1/sessions/' + sessionId + '/evidence?include_image=false&capture_tag=DURING_OPEN&limit=2'
      + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    const data = (await response.json()).data;
    frames.push(...data.captures);
    cursor = data.has_more ? data.next_cursor : null;
  } while (cursor);
  return frames;
}

(async () => {
  const browser = await chromium.launch(launch);
  try {
    const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    const errors = [];
    page.on('pageerror', e => errors.push(e.message));
    const frames = await allFrames(page);
    check(frames.length >= 3 && frames.every((f, i) => f.capture_tag === 'DURING_OPEN' && f.sequence === i + 1),
      'the API pages through ' + frames.length + ' frames numbered 1..n');

    await page.goto(base + '/');
    const strip = `.timelapse[data-session="${sessionId}"]`;
    await page.waitForFunction(([s, n]) => {
      const box = document.querySelector(s);
      return box && box.querySelectorAll('img.frame-thumb').length === n;
    }, [strip, frames.length], TIMEOUT);
    check(true, 'the session card has a strip with one thumbnail per frame');
    const thumbs = await page.$$eval(strip + ' img.frame-thumb', imgs => imgs.map(i => i.getAttribute('src')));
    check(thumbs.every((src, i) => src === '/api/v1/evidence/image?key=' + encodeURIComponent(frames[i].object_key) + '&size=thumb'),
      'the thumbnails are the frames in order, through &size=thumb');
    check(await page.$$eval(`.session[data-session="${sessionId}"] .side img.thumb`, imgs => imgs.length) === 2,
      'the pair (BEFORE_OPEN, AFTER_CLOSE) is still shown beside it');

    const loaded = s => document.querySelector(s + ' img.frame') && document.querySelector(s + ' img.frame').complete
      && document.querySelector(s + ' img.frame').naturalWidth > 0;
    await page.waitForFunction(loaded, strip, TIMEOUT);
    check((await page.textContent(strip + ' .frame-label')).startsWith('frame ' + frames.length + ' (' + frames.length + ' of ' + frames.length + ')'),
      'the last frame is shown first');

    await page.focus(strip + ' input.scrubber');
    await page.keyboard.press('Home');
    await page.waitForFunction(s => document.querySelector(s + ' .frame-label').textContent.startsWith('frame 1 (1 of'), strip, TIMEOUT);
    await page.waitForFunction(loaded, strip, TIMEOUT);
    check(await page.getAttribute(strip + ' img.frame', 'src') === thumbs[0], 'Home on the scrubber shows frame 1');
    check(await page.getAttribute(strip + ' a', 'href') === '/api/v1/evidence/image?key=' + encodeURIComponent(frames[0].object_key),
      'the shown frame links to the full image');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(s => document.querySelector(s + ' .frame-label').textContent.startsWith('frame 2 (2 of'), strip, TIMEOUT);
    check(await page.getAttribute(strip + ' img.frame', 'src') === thumbs[1], 'an arrow key moves to the next frame');
    check(await page.$eval(strip, s => s.querySelectorAll('img.frame-thumb.chosen').length === 1 && s.querySelectorAll('img.frame-thumb')[1].classList.contains('chosen')),
      'the strip marks the frame shown');

    // The page re-renders every 5 s; the frame chosen must survive it.
    await page.$eval(strip, s => { s.dataset.old = 'yes'; });
    await page.waitForFunction(s => document.querySelector(s) && document.querySelector(s).dataset.old !== 'yes', strip, TIMEOUT);
    check((await page.textContent(strip + ' .frame-label')).startsWith('frame 2 (2 of'), 'the frame chosen survives the refresh');

    const last = frames.length - 1;
    await page.click(`${strip} img.frame-thumb >> nth=${last}`);
    await page.waitForFunction(([s, n]) => document.querySelector(s + ' .frame-label').textContent.startsWith('frame ' + n + ' ('), [strip, frames.length], TIMEOUT);
    check(true, 'a click on a thumbnail shows that frame');
    await page.screenshot({ path: screenshot, fullPage: true });
    check(errors.length === 0, 'no script errors (' + errors.join('; ') + ')');
  } finally {
    await browser.close();
  }
})().catch(e => {
  console.error(e.message);
  process.exit(1);
});
