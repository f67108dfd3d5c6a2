'use strict';
// Reads the agent's JSON API only. Every value is inserted as text (textContent), never as HTML.

const REFRESH_MS = 5000;
const state = { apiKey: null, busy: false, results: {}, joinToken: null, technician: null, inspectionKey: null, ending: null,
  frames: {}, scrub: {}, status: null };
// A strip shows at most this many of a session's frames (the first pages); the API has them all.
const MAX_STRIP_FRAMES = 500;
const TECHNICIAN = 'pio-technician';

const REASONS = {
  timeout: 'the camera\'s answer did not finish in time',
  offline: 'camera offline (no connection)',
  camera_offline: 'camera offline (no connection)',
  busy: 'camera busy: connected but no answer (other clients may hold all its sockets)',
  grab_failed: 'the camera\'s sensor gave no frame (HTTP 500)',
  stale_frame: 'the camera only sent old frames',
  preempted: 'a door capture needed the camera',
  truncated_jpeg: 'image cut off (truncated JPEG)',
  corrupt_jpeg: 'corrupt image',
  not_a_jpeg: 'camera sent something that is not a JPEG',
  empty_frame: 'camera sent an empty frame',
  too_large: 'image too large',
  interrupted: 'agent restarted during the capture',
  NO_OPEN_EVENT: 'no open event: the door closed without being seen opening',
  SESSION_IN_PROGRESS: 'session in progress',
  DOOR_LEFT_OPEN: 'door left open',
  CAPTURE_FAILED: 'capture failed',
  CAMERA_OFFLINE: 'camera offline',
  NO_DOOR_CYCLE: 'a test capture: no door cycle',
  ENDED_WITHOUT_CAPTURE: 'session ended without this photo',
};

function words(reason) {
  if (!reason) return '';
  if (REASONS[reason]) return REASONS[reason];
  const http = /^http_(\d+)$/.exec(reason);
  if (http) return 'camera error (HTTP ' + http[1] + ')';
  if (reason.startsWith('storage_failed')) return 'could not be stored: ' + reason.slice('storage_failed'.length).replace(/^:\s*/, '');
  return reason;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// The agent's clock minus this browser's (from the status answer's timestamp): ages are reckoned on the agent's
// clock, so a phone whose clock is off still shows how long ago things happened.
let agentClockOffsetMs = 0;

function since(iso) {
  if (!iso) return '';
  return duration(Math.round((Date.now() + agentClockOffsetMs - Date.parse(iso)) / 1000)) + ' ago';
}

function duration(totalSeconds) {
  const seconds = Math.max(0, totalSeconds);
  if (seconds < 90) return seconds + ' s';
  if (seconds < 5400) return Math.round(seconds / 60) + ' min';
  if (seconds < 172800) return Math.round(seconds / 3600) + ' h';
  return Math.round(seconds / 86400) + ' days';
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

// The browser revalidates with If-None-Match (no-cache), so an unchanged answer is a 304 with no body.
async function getEnvelope(url) {
  const response = await fetch(url, { cache: 'no-cache', headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(url + ' answered ' + response.status);
  return response.json();
}

async function getData(url) {
  return (await getEnvelope(url)).data;
}

function fact(list, name, value, className) {
  list.append(el('dt', null, name), el('dd', className, value));
}

function renderAgent(status) {
  document.getElementById('agent-line').textContent =
    'version ' + status.version + ' · up ' + duration(status.uptime_seconds);
  const list = document.getElementById('agent');
  list.replaceChildren();
  for (const item of status.setup || []) fact(list, 'To set', item, 'warn');
  const mqtt = status.mqtt;
  fact(list, 'MQTT', mqtt.connected ? 'connected to ' + mqtt.broker
    : mqtt.state + ' (' + mqtt.broker + ')' + (mqtt.since ? ' since ' + time(mqtt.since) : '') + (mqtt.last_error ? ': ' + mqtt.last_error : ''),
    mqtt.connected ? 'good' : mqtt.state === 'disabled' ? 'muted' : 'bad');
  const upload = status.upload;
  if (!upload.s3_configured) fact(list, 'S3', 'not configured: captures stay on this agent', 'warn');
  else fact(list, 'S3', upload.s3_reachable === false
    ? 'unreachable' + (upload.last_error_at ? ' since ' + time(upload.last_error_at) : '') + (upload.last_error ? ': ' + upload.last_error : '')
    : 'reachable, bucket ' + upload.bucket, upload.s3_reachable === false ? 'bad' : 'good');
  fact(list, 'Upload queue', upload.queue_depth + (upload.oldest_pending_at ? ', oldest ' + since(upload.oldest_pending_at) : ''),
    upload.queue_depth > 0 && upload.oldest_pending_age_seconds > 3600 ? 'warn' : null);
  fact(list, 'Image cache', Math.round(status.cache.bytes / 1048576) + ' of ' + Math.round(status.cache.limit_bytes / 1048576) + ' MB');
  fact(list, 'Store', status.store.disk_full ? 'disk full: new photos refused' : status.store.ok ? 'ok' : 'failing', status.store.ok && !status.store.disk_full ? 'good' : 'bad');
}

function renderContainers(status) {
  const box = document.getElementById('containers');
  box.replaceChildren();
  for (const c of status.containers) {
    const card = el('article', 'card');
    card.append(el('h3', null, c.id));
    const list = el('dl', 'facts');
    fact(list, 'Door', c.door + (c.door_since ? ' since ' + time(c.door_since) : ''), c.door === 'open' ? 'warn' : null);
    if (c.door_sensor) fact(list, 'Door sensor', c.door_sensor.state + (c.door_sensor.error ? ': ' + c.door_sensor.error : ''),
      c.door_sensor.state === 'ok' ? 'good' : 'bad');
    const cam = c.camera;
    fact(list, 'Camera', c.camera_id + ': ' + (cam.state === 'unknown' ? 'not seen yet' : cam.state) + (cam.since ? ' since ' + time(cam.since) : ''),
      cam.state === 'online' ? 'good' : cam.state === 'busy' ? 'warn' : cam.state === 'offline' ? 'bad' : 'muted');
    fact(list, 'Frames', (cam.frame_size || '?') + (cam.frame_buffers ? ', ' + cam.frame_buffers + ' frame buffer' + (cam.frame_buffers > 1 ? 's' : '') : '')
      + ', deadline ' + (cam.capture_deadline_ms / 1000).toFixed(1) + ' s');
    if (cam.last_seen) fact(list, 'Last seen', since(cam.last_seen));
    if (cam.last_capture_latency_ms !== null && cam.last_capture_latency_ms !== undefined) fact(list, 'Last capture', cam.last_capture_latency_ms + ' ms');
    if (cam.last_error) fact(list, 'Last error', words(cam.last_error), 'bad');
    if (c.last_session_id) fact(list, 'Last session', c.last_session_id);
    card.append(list);
    const button = el('button', 'capture', 'Test capture');
    button.type = 'button';
    button.dataset.container = c.id;
    button.addEventListener('click', () => testCapture(c.id));
    // The last test capture's outcome survives the periodic re-render.
    const last = state.results[c.id];
    card.append(button, el('p', last ? last.className : 'result muted', last ? last.text : ''));
    box.append(card);
  }
}

function imageUrl(key, thumb) {
  return '/api/v1/evidence/image?key=' + encodeURIComponent(key) + (thumb ? '&size=thumb' : '');
}

function side(session, captures, tag, label) {
  const box = el('div', 'side ' + (tag === 'BEFORE_OPEN' ? 'before' : 'after'));
  box.append(el('span', 'tag', label));
  const good = captures.filter(c => c.capture_tag === tag && c.status === 'captured').pop();
  const failed = captures.filter(c => c.capture_tag === tag && c.status === 'failed').pop();
  if (good) {
    const link = el('a');
    link.href = imageUrl(good.object_key, false);
    link.target = '_blank';
    link.rel = 'noopener';
    const img = el('img', 'thumb');
    img.src = imageUrl(good.object_key, true);
    img.alt = label + ' photo of ' + session.container_id;
    img.loading = 'lazy';
    link.append(img);
    box.append(link, el('span', 'muted', 'upload ' + good.upload_status));
    if (good.clock_synchronized === false) box.append(el('p', 'warn reason', 'clock not synchronised'));
  } else if (failed) {
    box.append(el('p', 'bad reason', 'Capture failed: ' + words(failed.failure_reason)));
  } else if (tag === 'BEFORE_OPEN' && session.before_missing_reason) {
    box.append(el('p', 'warn reason', words(session.before_missing_reason)));
  } else if (tag === 'AFTER_CLOSE' && session.after_missing_reason) {
    box.append(el('p', 'warn reason', words(session.after_missing_reason)));
  } else if (session.status !== 'complete') {
    box.append(el('p', 'muted reason', session.door_left_open_at && tag === 'AFTER_CLOSE' ? words('DOOR_LEFT_OPEN') : words('SESSION_IN_PROGRESS')));
  } else {
    box.append(el('p', 'bad reason', words('CAPTURE_FAILED')));
  }
  return box;
}

// A long session (frames, test captures) has its pair's rows past the first page: ask for them by tag.
async function pairRows(sessionId, firstPage) {
  const rows = firstPage.filter(c => c.capture_tag !== 'BEFORE_OPEN' && c.capture_tag !== 'AFTER_CLOSE');
  for (const tag of ['BEFORE_OPEN', 'AFTER_CLOSE']) {
    const page = await getData('/api/v1/sessions/' + encodeURIComponent(sessionId) + '/evidence?include_image=false&limit=100&capture_tag=' + tag);
    rows.push(...page.captures);
  }
  return rows;
}

async function renderSessions() {
  const list = await getData('/api/v1/sessions?limit=10');
  const box = document.getElementById('sessions');
  const cards = [];
  for (const s of list.sessions) {
    const evidence = await getData('/api/v1/sessions/' + encodeURIComponent(s.id) + '/evidence?include_image=false');
    const captures = evidence.has_more ? await pairRows(s.id, evidence.captures) : evidence.captures;
    const card = el('article', 'session');
    card.dataset.session = s.id;
    const head = el('div', 'head');
    const manual = s.id.startsWith('manual-');
    head.append(el('strong', null, s.container_id), el('span', 'muted', s.id), el('span', null, time(s.started_at)),
      manual ? el('span', 'muted', 'test capture')
        : el('span', s.pair_status === 'complete' ? 'good' : s.status === 'complete' ? 'bad' : 'muted',
          s.status === 'complete' ? 'pair ' + s.pair_status : 'in progress'));
    card.append(head);
    if (!manual && s.status !== 'complete') {
      const end = el('button', 'end', 'End session…');
      end.type = 'button';
      end.dataset.session = s.id;
      end.addEventListener('click', () => askToEnd(s));
      head.append(end);
    }
    if (s.opened_by || s.notes) card.append(el('p', 'muted notes', 'Inspection' + (s.opened_by ? ' by ' + s.opened_by : '') + (s.notes ? ': ' + s.notes : '')));
    if (s.ended_by) card.append(el('p', 'muted notes', 'Ended by ' + s.ended_by + (s.end_reason ? ': ' + s.end_reason : '')));
    if (manual) {
      const pair = el('div', 'pair');
      pair.append(side(s, captures, 'MANUAL', 'MANUAL'));
      card.append(pair);
    } else {
      const pair = el('div', 'pair');
      pair.append(side(s, captures, 'BEFORE_OPEN', 'BEFORE_OPEN'), side(s, captures, 'AFTER_CLOSE', 'AFTER_CLOSE'));
      card.append(pair);
    }
    if (!manual && evidence.summary.frames > 0) card.append(await strip(s, evidence.summary.frames));
    cards.push(card);
  }
  if (cards.length === 0) cards.push(el('p', 'muted', 'No sessions yet.'));
  box.replaceChildren(...cards);
}

// A session's DURING_OPEN frames, in order. A complete session's frames no longer change: they are read once.
async function framesOf(session, count) {
  const known = state.frames[session.id];
  if (known && session.status === 'complete' && known.length === Math.min(count, MAX_STRIP_FRAMES)) return known;
  const frames = [];
  let cursor = null;
  do {
    const page = await getData('/api/v1/sessions/' + encodeURIComponent(session.id) + '/evidence?include_image=false&capture_tag=DURING_OPEN&limit=100'
      + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    frames.push(...page.captures.filter(c => c.status === 'captured'));
    cursor = page.has_more ? page.next_cursor : null;
  } while (cursor && frames.length < MAX_STRIP_FRAMES);
  state.frames[session.id] = frames.slice(0, MAX_STRIP_FRAMES);
  return state.frames[session.id];
}

// The timelapse while the door was open: the chosen frame large, a scrubber, and every frame as a small thumbnail
// (lazy: only those scrolled into view are fetched). The choice survives the periodic re-render.
async function strip(session, count) {
  const frames = await framesOf(session, count);
  const box = el('div', 'timelapse');
  box.dataset.session = session.id;
  if (frames.length === 0) return box;
  const chosen = Math.min(state.scrub[session.id] ?? frames.length - 1, frames.length - 1);
  const link = el('a');
  link.target = '_blank';
  link.rel = 'noopener';
  const shown = el('img', 'frame');
  shown.alt = 'frame while the door of ' + session.container_id + ' was open';
  link.append(shown);
  const label = el('span', 'muted frame-label');
  const scrubber = el('input', 'scrubber');
  scrubber.type = 'range';
  scrubber.min = '1';
  scrubber.max = String(frames.length);
  scrubber.value = String(chosen + 1);
  scrubber.setAttribute('aria-label', 'frame while the door was open');
  const thumbs = el('div', 'frames');
  frames.forEach((frame, i) => {
    const thumb = el('img', 'frame-thumb');
    thumb.src = imageUrl(frame.object_key, true);
    thumb.alt = 'frame ' + (frame.sequence ?? i + 1);
    thumb.loading = 'lazy';
    thumb.addEventListener('click', () => show(i));
    thumbs.append(thumb);
  });
  function show(i) {
    const frame = frames[i];
    state.scrub[session.id] = i;
    scrubber.value = String(i + 1);
    link.href = imageUrl(frame.object_key, false);
    shown.src = imageUrl(frame.object_key, true);
    label.textContent = 'frame ' + (frame.sequence ?? i + 1) + ' (' + (i + 1) + ' of ' + frames.length
      + (count > frames.length ? ' shown, ' + count + ' taken' : '') + ') · ' + time(frame.captured_at);
    for (const [j, t] of [...thumbs.children].entries()) t.classList.toggle('chosen', j === i);
    const current = thumbs.children[i];
    if (current && thumbs.isConnected) current.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }
  scrubber.addEventListener('input', () => show(Number(scrubber.value) - 1));
  box.append(el('span', 'tag', 'DURING_OPEN · ' + count + ' frame' + (count === 1 ? '' : 's')), link, label, scrubber, thumbs);
  show(chosen);
  return box;
}

function showResult(containerId, className, text) {
  state.results[containerId] = { className, text };
  for (const button of document.querySelectorAll('button.capture')) {
    if (button.dataset.container === containerId && button.nextElementSibling) {
      button.nextElementSibling.className = className;
      button.nextElementSibling.textContent = text;
    }
  }
}

// A write: with the admin's key when one was entered, else the technician's cookie (sent by the browser, HttpOnly).
async function write(url, options) {
  const headers = Object.assign({ Accept: 'application/json' }, options.headers || {});
  if (state.apiKey) headers.Authorization = 'Bearer ' + state.apiKey;
  const response = await fetch(url, Object.assign({}, options, { headers, credentials: 'same-origin' }));
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return { status: response.status, ok: response.ok, body };
}

// What a refused write means for the person holding the phone.
function refusal(answer) {
  if (answer.status === 401) {
    // A technician's credential that expired or was revoked: the page no longer says who is signed in.
    if (state.technician && !state.apiKey) {
      state.technician = null;
      sessionStorage.removeItem(TECHNICIAN);
      showTechnician();
    }
    document.getElementById('key-form').hidden = false;
    return 'This needs the site\'s API key (enter it above) or a technician\'s invite that is still good.';
  }
  if (answer.status === 403) return 'Your invite does not cover this: ' + message(answer);
  return message(answer);
}

function message(answer) {
  return answer.body && answer.body.error ? answer.body.error.message : 'the agent answered ' + answer.status;
}

async function testCapture(containerId) {
  showResult(containerId, 'result muted', 'Capturing…');
  try {
    const answer = await write('/api/v1/containers/' + encodeURIComponent(containerId) + '/captures',
      { method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() } });
    if (!answer.ok) {
      showResult(containerId, 'result warn', refusal(answer));
      return;
    }
    const capture = answer.body.data;
    showResult(containerId, capture.status === 'captured' ? 'result good' : 'result bad', capture.status === 'captured'
      ? 'Captured ' + capture.image_size_bytes + ' bytes (' + capture.width + '×' + capture.height + ')'
      : 'Capture failed: ' + words(capture.failure_reason));
    refresh();
  } catch (error) {
    showResult(containerId, 'result bad', 'Test capture failed: ' + error.message);
  }
}

function setText(id, className, text) {
  const node = document.getElementById(id);
  node.className = className;
  node.textContent = text;
}

// The containers an inspection may be opened on: all of them for the admin, the invite's for a technician. Drawn from
// the last status at every refresh and at once when who is signed in changes (a refresh may already be in flight then).
function renderInspectionChoices() {
  const status = state.status;
  if (!status) return;
  const select = document.getElementById('inspection-container');
  const chosen = select.value;
  const allowed = state.technician ? status.containers.filter(c => state.technician.containers.includes(c.id)) : status.containers;
  select.replaceChildren(...allowed.map(c => {
    const option = el('option', null, c.id);
    option.value = c.id;
    return option;
  }));
  if (allowed.some(c => c.id === chosen)) select.value = chosen;
}

async function openInspection(event) {
  event.preventDefault();
  const containerId = document.getElementById('inspection-container').value;
  const body = { opened_by: document.getElementById('inspection-by').value.trim() };
  const notes = document.getElementById('inspection-notes').value.trim();
  if (notes) body.notes = notes;
  // One key per inspection asked for: pressing again after a lost answer returns the same session, not a second one.
  const fingerprint = JSON.stringify([containerId, body]);
  if (!state.inspectionKey || state.inspectionKey.fingerprint !== fingerprint) state.inspectionKey = { fingerprint, key: crypto.randomUUID() };
  setText('inspection-result', 'result muted', 'Opening an inspection on ' + containerId + ' (taking BEFORE_OPEN)…');
  try {
    const answer = await write('/api/v1/containers/' + encodeURIComponent(containerId) + '/sessions', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': state.inspectionKey.key }, body: JSON.stringify(body),
    });
    if (!answer.ok) {
      setText('inspection-result', 'result bad', 'Not opened: ' + refusal(answer));
      if (answer.status !== 401) state.inspectionKey = null;
      return;
    }
    state.inspectionKey = null;
    document.getElementById('inspection-notes').value = '';
    setText('inspection-result', 'result good', 'Inspection session ' + answer.body.data.id + ' is open on ' + containerId
      + ': it ends when the door closes, or with "End session".');
    refresh();
  } catch (error) {
    setText('inspection-result', 'result bad', 'Not opened: ' + error.message + ' (press again: it will not open a second one)');
  }
}

function askToEnd(session) {
  state.ending = session;
  document.getElementById('end-what').textContent = 'Session ' + session.id + ' on ' + session.container_id + ', started '
    + time(session.started_at) + '. It is completed as if the door had closed, and this cannot be undone.';
  document.getElementById('end-reason').value = '';
  document.getElementById('end-after').checked = true;
  const confirm = document.getElementById('end-confirm');
  confirm.disabled = false;
  confirm.textContent = 'End session';
  document.getElementById('end-dialog').showModal();
}

async function endSession(event) {
  event.preventDefault();
  const session = state.ending;
  if (!session) return;
  const confirm = document.getElementById('end-confirm');
  confirm.disabled = true;
  confirm.textContent = 'Ending…';
  const body = { after_close: document.getElementById('end-after').checked };
  const reason = document.getElementById('end-reason').value.trim();
  if (reason) body.reason = reason;
  try {
    const answer = await write('/api/v1/sessions/' + encodeURIComponent(session.id) + '/end', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    document.getElementById('end-dialog').close();
    state.ending = null;
    setText('session-result', answer.ok ? 'result good' : 'result bad', answer.ok
      ? 'Ended session ' + session.id + ': pair ' + answer.body.data.pair_status
      : 'Not ended: ' + refusal(answer));
    refresh();
  } catch (error) {
    confirm.disabled = false;
    confirm.textContent = 'End session';
    setText('session-result', 'result bad', 'Not ended: ' + error.message);
  }
}

function showTechnician() {
  const line = document.getElementById('signed-in');
  const technician = state.technician;
  line.hidden = !technician;
  if (technician) line.textContent = 'Signed in as ' + technician.name + ' for ' + technician.containers.join(', ') + ' until ' + time(technician.expires_at);
  if (technician && !document.getElementById('inspection-by').value) document.getElementById('inspection-by').value = technician.name;
  renderInspectionChoices();
}

// The invite's token is taken from the address and the address put back to "/" at once: the token is never left in the
// history or a bookmark. The code goes in the X-Join-OTP header; the credential comes back as an HttpOnly cookie.
async function join(event) {
  event.preventDefault();
  const code = document.getElementById('join-code').value.trim();
  setText('join-result', 'result muted', 'Joining…');
  try {
    const response = await fetch('/api/v1/join/' + encodeURIComponent(state.joinToken), {
      method: 'POST', headers: { 'X-Join-OTP': code, Accept: 'application/json' }, credentials: 'same-origin',
    });
    const body = await response.json();
    if (!response.ok) {
      setText('join-result', 'result bad', 'Not joined: ' + (body.error ? body.error.message : response.status));
      return;
    }
    const joined = body.data;
    // Not a secret (the credential is the HttpOnly cookie): who this page is signed in as, for this tab.
    state.technician = { name: joined.name, containers: joined.containers, expires_at: joined.expires_at };
    sessionStorage.setItem(TECHNICIAN, JSON.stringify(state.technician));
    state.joinToken = null;
    document.getElementById('join').hidden = true;
    showTechnician();
    refresh();
  } catch (error) {
    setText('join-result', 'result bad', 'Not joined: ' + error.message);
  }
}

function restoreTechnician() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(TECHNICIAN) || 'null');
    if (saved && Date.parse(saved.expires_at) > Date.now()) state.technician = saved;
    else sessionStorage.removeItem(TECHNICIAN);
  } catch {
    sessionStorage.removeItem(TECHNICIAN);
  }
}

async function refresh() {
  if (state.busy) return;
  state.busy = true;
  const error = document.getElementById('error');
  try {
    const envelope = await getEnvelope('/api/v1/status');
    const status = envelope.data;
    agentClockOffsetMs = Date.parse(envelope.timestamp) - Date.now();
    renderAgent(status);
    renderContainers(status);
    state.status = status;
    renderInspectionChoices();
    await renderSessions();
    error.textContent = '';
  } catch (e) {
    error.textContent = 'Cannot reach the agent: ' + e.message;
  } finally {
    state.busy = false;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  // The key stays in this page's memory: never in the URL, never in storage.
  document.getElementById('key-form').addEventListener('submit', event => {
    event.preventDefault();
    const input = document.getElementById('api-key');
    state.apiKey = input.value;
    input.value = '';
    document.getElementById('key-form').hidden = true;
  });
  const invite = /^\/join\/([A-Za-z0-9_-]{1,100})$/.exec(location.pathname);
  if (invite) {
    state.joinToken = invite[1];
    history.replaceState(null, '', '/');
    document.getElementById('join').hidden = false;
    document.getElementById('join-code').focus();
  }
  document.getElementById('join-form').addEventListener('submit', join);
  document.getElementById('inspection-form').addEventListener('submit', openInspection);
  document.getElementById('end-form').addEventListener('submit', endSession);
  document.getElementById('end-cancel').addEventListener('click', () => {
    state.ending = null;
    document.getElementById('end-dialog').close();
  });
  restoreTechnician();
  showTechnician();
  refresh();
  setInterval(refresh, REFRESH_MS);
});
