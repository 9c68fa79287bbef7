// ferrtc demo page: signaling client (WebSocket /ws), calls between browsers
// (RTCPeerConnection + data channels, "perfect negotiation"), chat, file
// transfer with SHA-256, video calls (camera and microphone, as MDN's
// "Signaling and video calling" guide does them: the callee answers a call
// with media with its own camera), mute, a still photo of the remote video,
// and a live stats panel from getStats().
//
// Data channel protocol, shared with the ferrtc bot:
// - label "chat": text messages are chat lines; "/stats" asks the bot for its stats.
// - label "file", one channel per file: the sender sends one text message
//   {"type":"file","name":..,"size":..,"mime":..}, then the bytes as binary
//   messages of at most 16 KiB; the receiver answers with one text message
//   {"type":"file-received","size":..,"sha256":"<hex>"} and either side closes.
//   The receiver offers the bytes for download as application/octet-stream,
//   whatever "mime" says.

const CHUNK = 16 * 1024;
const HIGH_WATER = 1024 * 1024;
const MAX_FILE = 256 * 1024 * 1024;
const HISTORY = 60;
const BOT_NAME = 'ferrtc-bot';
// An offer refused as `rate-limited` is sent once more after this back-off
// (plus up to as much again at random); only an offer sent within the last
// OFFER_REFUSAL_WINDOW ms is taken for the refused message.
const OFFER_RETRY_MS = 1000;
const OFFER_REFUSAL_WINDOW = 5000;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
};

const app = {
  ws: null,
  me: null,          // name once joined
  wanted: null,      // name asked for (re-joined after a reconnect)
  users: [],
  peers: new Map(),  // name -> Peer
  active: null,      // name of the peer shown
  retry: 0,
  joinedOn: null,    // the connection the last join was sent on
};

// ---------- banner and small helpers ----------

function banner(text, kind = 'error') {
  $('banner-text').textContent = text;
  $('banner').dataset.kind = kind;
  $('banner').hidden = false;
}
function clearBanner() { $('banner').hidden = true; }
$('banner-close').onclick = clearBanner;

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
async function sha256(buffer) { return hex(await crypto.subtle.digest('SHA-256', buffer)); }

function formatBytes(n) {
  if (n < 1024) return `${n.toFixed(0)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

// ---------- signaling ----------

function setSignalState(state, text) {
  const pill = $('signal-status');
  pill.dataset.state = state;
  pill.textContent = `signaling: ${text}`;
}

// The page's ?turn=URL&turnUser=U&turnPass=P (and &relay=1 for
// iceTransportPolicy "relay") give the calls a TURN server, e.g. a
// `ferrtc turn` next to the demo; without them, no ICE server.
function rtcConfiguration() {
  const page = new URLSearchParams(location.search);
  const turn = page.get('turn');
  if (!turn) return { iceServers: [] };
  return {
    iceServers: [{ urls: turn, username: page.get('turnUser') || '', credential: page.get('turnPass') || '' }],
    iceTransportPolicy: page.get('relay') === '1' ? 'relay' : 'all',
  };
}

function connectSignaling() {
  // The page's own ?room= and ?token= select the room and carry a join token.
  const page = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const key of ['room', 'token']) if (page.get(key)) query.set(key, page.get(key));
  const search = query.toString() ? `?${query}` : '';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${search}`;
  setSignalState('connecting', 'connecting…');
  const ws = new WebSocket(url);
  app.ws = ws;
  let admitted = false; // a user list came: the server took this connection
  let refusal = null;   // the last error the server sent on it
  ws.onopen = () => {
    app.retry = 0;
    setSignalState('open', 'connected');
    if (!$('banner').hidden && $('banner').dataset.kind === 'signal') clearBanner();
    if (app.wanted && send({ type: 'join', name: app.wanted })) app.joinedOn = ws;
  };
  ws.onmessage = (event) => {
    let msg;
    try { msg = JSON.parse(event.data); } catch { return; }
    if (msg.type === 'users') admitted = true;
    if (msg.type === 'error') refusal = msg;
    onServerMessage(msg).catch((e) => banner(`Signaling message failed: ${e.message || e}`));
  };
  ws.onclose = (event) => {
    if (app.ws !== ws) return;
    app.ws = null;
    const hadCalls = app.peers.size > 0;
    app.me = null;
    $('me').textContent = '';
    for (const peer of [...app.peers.values()]) peer.close('signaling lost');
    renderUsers([]);
    // Closed with 1008 (policy violation, RFC 6455 §7.4.1) before any user
    // list: the server refused this page's ?room= or ?token= (a bad room
    // name, a malformed or expired token). The same address would be
    // refused again: no reconnecting, the reason is shown instead.
    // A join sent on it was refused instead (with --secret, a name the
    // token was not made for): the page reconnects, and waits for the
    // user's next name rather than sending the refused one again.
    const joinRefused = app.joinedOn === ws;
    if (event.code === 1008 && !admitted && !joinRefused) {
      const why = (refusal && (refusal.message || refusal.code)) || event.reason || 'policy violation';
      setSignalState('refused', 'refused');
      banner(`The server refused this page's room or token: ${why}. Fix ?room= or ?token= in the address and reload.`);
      return;
    }
    if (event.code === 1008 && !admitted && joinRefused) app.wanted = null;
    const delay = Math.min(10, 2 ** app.retry);
    app.retry += 1;
    setSignalState('lost', `lost, retrying in ${delay}s`);
    banner(`Signaling lost: the connection to the server closed${hadCalls ? ' and your calls ended' : ''}. Reconnecting in ${delay}s…`);
    $('banner').dataset.kind = 'signal';
    setTimeout(connectSignaling, delay * 1000);
  };
}

function send(msg) {
  if (!app.ws || app.ws.readyState !== WebSocket.OPEN) {
    banner('Signaling is not connected; the message was not sent.');
    return false;
  }
  app.ws.send(JSON.stringify(msg));
  return true;
}

async function onServerMessage(msg) {
  switch (msg.type) {
    case 'users':
      renderUsers(Array.isArray(msg.users) ? msg.users : []);
      break;
    case 'joined':
      app.me = msg.name;
      $('me').textContent = `you are ${msg.name}`;
      $('join-error').hidden = true;
      $('name').disabled = true;
      $('join').disabled = true;
      renderUsers(app.users);
      break;
    case 'error':
      onServerError(msg);
      break;
    case 'offer': case 'answer': case 'candidate': case 'bye': {
      const from = msg.from;
      if (typeof from !== 'string') return;
      let peer = app.peers.get(from);
      if (msg.type === 'bye') {
        if (peer) peer.close(`${from} hung up`);
        return;
      }
      if (!peer) {
        if (msg.type !== 'offer') return; // late candidate of a closed call
        peer = new Peer(from);
        peer.system(`${from} is calling`);
        if (!app.active) select(from);
      }
      await peer.signal(msg);
      break;
    }
    default:
      break;
  }
}

function onServerError(msg) {
  const text = msg.message || msg.code || 'error';
  // {"type":"error","code":"rate-limited",..}: a signal over this page's
  // rate limit, or for a callee whose queue is full, was dropped; the
  // server asks for it again shortly. The error does not say which one: an
  // offer still unanswered, sent just before, is sent once more, else the
  // call would wait for its answer for ever.
  if (msg.code === 'rate-limited') {
    let retrying = false;
    for (const peer of app.peers.values()) retrying = peer.retryOffer() || retrying;
    if (retrying) return;
  }
  if (['name-taken', 'bad-name', 'already-joined', 'room-full', 'bad-token'].includes(msg.code)) {
    $('join-error').textContent = text;
    $('join-error').hidden = false;
    app.wanted = null;
    $('name').disabled = false;
    $('join').disabled = false;
    return;
  }
  banner(`Server refused a message: ${text}`);
}

// ---------- user list ----------

function renderUsers(users) {
  app.users = users;
  const list = $('users');
  list.replaceChildren();
  $('user-count').textContent = String(users.length);
  for (const name of users) {
    const peer = app.peers.get(name);
    const li = el('li', { 'data-user': name, 'data-active': String(app.active === name) });
    li.append(el('span', { class: 'who', text: name, title: name }));
    if (name === BOT_NAME) li.append(el('span', { class: 'tag bot', text: 'bot', title: 'the built-in ferrtc peer' }));
    if (name === app.me) {
      li.append(el('span', { class: 'tag', text: '(you)' }));
    } else if (peer) {
      const state = peer.pc.connectionState;
      li.append(el('span', { class: 'dot', 'data-state': state, title: `connection ${state}`, 'aria-label': `connection ${state}` }));
      const open = el('button', { class: 'open secondary', type: 'button', text: 'Open' });
      open.onclick = () => select(name);
      li.append(open);
    } else {
      const call = el('button', { class: 'call', type: 'button', text: 'Call' });
      call.disabled = app.me === null;
      call.title = app.me === null ? 'Join first' : `Call ${name}`;
      call.onclick = () => startCall(name);
      const video = el('button', { class: 'video-call secondary', type: 'button', text: 'Video' });
      video.disabled = call.disabled;
      video.title = app.me === null ? 'Join first' : `Video call ${name}`;
      video.onclick = () => startCall(name, true);
      li.append(call, video);
    }
    list.append(li);
  }
}

function startCall(name, withVideo = false) {
  if (app.me === null) { banner('Join with a name before calling.'); return; }
  let peer = app.peers.get(name);
  if (!peer) {
    peer = new Peer(name);
    peer.system(`calling ${name}${withVideo ? ' with video' : ''}…`);
    peer.attachChat(peer.pc.createDataChannel('chat'));
  }
  select(name);
  if (withVideo) peer.startMedia();
}

function select(name) {
  app.active = name;
  for (const peer of app.peers.values()) peer.logEl.hidden = peer.name !== name;
  $('empty-log').hidden = app.peers.has(name);
  renderUsers(app.users);
  renderActive();
}

function renderActive() {
  const peer = app.active && app.peers.get(app.active);
  $('peer-title').textContent = peer ? peer.name : 'No call yet';
  $('peer-state').hidden = !peer;
  $('hangup').hidden = !peer;
  $('start-video').hidden = !peer || !!peer.localStream;
  renderMedia(peer);
  if (peer) {
    $('peer-state').dataset.state = peer.pc.connectionState;
    $('peer-state').textContent = peer.pc.connectionState;
  }
  const ready = !!(peer && peer.chat && peer.chat.readyState === 'open');
  $('chat-input').disabled = !ready;
  $('send').disabled = !ready;
  $('file-input').disabled = !ready;
  $('file-label').dataset.disabled = String(!ready);
  if (!peer) resetStatsPanel();
}

$('hangup').onclick = () => {
  const peer = app.active && app.peers.get(app.active);
  if (!peer) return;
  send({ type: 'bye', target: peer.name });
  peer.close('you hung up');
};

// ---------- video ----------

function renderMedia(peer) {
  const show = !!(peer && (peer.localStream || peer.remoteStream));
  $('media').hidden = !show;
  const local = $('local-video');
  const remote = $('remote-video');
  const want = (video, stream) => { if (video.srcObject !== stream) video.srcObject = stream; };
  want(local, show ? peer.localStream : null);
  want(remote, show ? peer.remoteStream : null);
  if (!show) return;
  const audio = peer.localStream ? peer.localStream.getAudioTracks() : [];
  const camera = peer.localStream ? peer.localStream.getVideoTracks() : [];
  const muted = audio.length > 0 && audio.every((t) => !t.enabled);
  const dark = camera.length > 0 && camera.every((t) => !t.enabled);
  $('mute').textContent = muted ? 'Unmute' : 'Mute';
  $('mute').setAttribute('aria-pressed', String(muted));
  $('mute').disabled = audio.length === 0;
  $('camera').textContent = dark ? 'Camera on' : 'Camera off';
  $('camera').setAttribute('aria-pressed', String(dark));
  $('camera').disabled = camera.length === 0;
  $('remote-caption').textContent = peer.remoteStream ? peer.name : 'waiting for video…';
}

const activePeer = () => app.active && app.peers.get(app.active);

$('start-video').onclick = () => { const peer = activePeer(); if (peer) peer.startMedia(); };
$('mute').onclick = () => {
  const peer = activePeer();
  if (!peer || !peer.localStream) return;
  const tracks = peer.localStream.getAudioTracks();
  const enable = tracks.every((t) => !t.enabled);
  for (const t of tracks) t.enabled = enable;
  peer.system(enable ? 'microphone on' : 'microphone muted');
  renderMedia(peer);
};
$('camera').onclick = () => {
  const peer = activePeer();
  if (!peer || !peer.localStream) return;
  const tracks = peer.localStream.getVideoTracks();
  const enable = tracks.every((t) => !t.enabled);
  for (const t of tracks) t.enabled = enable;
  peer.system(enable ? 'camera on' : 'camera off');
  renderMedia(peer);
};
// A still of the remote video (MDN "Taking still photos with getUserMedia()"):
// drawn on a canvas, kept as a PNG the user can save.
$('photo').onclick = () => {
  const peer = activePeer();
  const video = $('remote-video');
  if (!peer || !video.videoWidth) { banner('No remote video to take a photo of yet.', 'info'); return; }
  const canvas = el('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
  const png = canvas.toDataURL('image/png');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = `ferrtc-${peer.name}-${stamp}.png`;
  const figure = el('figure', { class: 'photo' },
    el('img', { src: png, alt: `photo of ${peer.name}`, width: String(canvas.width), height: String(canvas.height) }),
    el('figcaption', {}, `${canvas.width}×${canvas.height} · `, el('a', { href: png, download: file, text: 'save' })));
  $('photos').prepend(figure);
  peer.system(`took a ${canvas.width}×${canvas.height} photo`);
};

// ---------- a call ----------

class Peer {
  constructor(name) {
    this.name = name;
    // Perfect negotiation (W3C webrtc-pc section 10.7): one side yields on glare.
    this.polite = app.me !== null && app.me > name;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.offerSent = null;     // { at, retried } of our offer until answered
    this.signaling = Promise.resolve(); // the peer's messages, one at a time
    this.chat = null;
    this.closed = false;
    this.localStream = null;   // our camera and microphone, once asked for
    this.remoteStream = null;  // what the peer sends
    this.gettingMedia = null;
    this.mediaRefused = false;
    this.transfers = new Set(); // abort(reason) of each file transfer under way
    this.stats = new StatsHistory();
    this.logEl = el('ol', { class: 'log', 'data-peer': name });
    this.logEl.hidden = app.active !== name;
    $('logs').append(this.logEl);
    const pc = new RTCPeerConnection(rtcConfiguration());
    this.pc = pc;
    app.peers.set(name, this);

    pc.onicecandidate = ({ candidate }) => {
      const init = candidate ? candidate.toJSON() : { candidate: '', sdpMid: null, sdpMLineIndex: null };
      send({ type: 'candidate', target: name, ...init });
    };
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        if (send({ type: pc.localDescription.type, target: name, sdp: pc.localDescription.sdp })
            && pc.localDescription.type === 'offer') {
          this.offerSent = { at: performance.now(), retried: false };
        }
      } catch (e) {
        this.system(`could not make an offer: ${e.message}`, true);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.ontrack = ({ track, streams }) => {
      if (!this.remoteStream) this.remoteStream = streams[0] || new MediaStream();
      if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
      this.system(`receiving ${track.kind}`);
      track.onended = () => { if (this.remoteStream) this.remoteStream.removeTrack(track); };
      if (app.active === name) renderMedia(this);
    };
    pc.ondatachannel = ({ channel }) => {
      if (channel.label === 'chat') this.attachChat(channel);
      else if (channel.label === 'file') receiveFile(this, channel);
      else this.system(`ignoring data channel "${channel.label}"`);
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      this.system(`connection ${state}`, state === 'failed');
      if (state === 'failed') {
        banner(`ICE failed with ${name}: no candidate pair worked. Both browsers must reach each other (same machine or network, or a TURN server).`);
      }
      if (app.active === name) renderActive();
      renderUsers(app.users);
    };
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === 'disconnected') this.system('ICE disconnected: waiting for the path to come back…', true);
    };
  }

  // Handles the peer's signaling messages one at a time, in the order they
  // came. Handled side by side, an offer that followed the answer to our
  // own offer was seen while that answer was still being applied (state
  // still have-local-offer) and the impolite side ignored it as glare:
  // W3C webrtc-pc §10.7 counts only an offer that meets our own offer as a
  // collision (its example's isSettingRemoteAnswerPending). In order, the
  // answer is applied first and the offer is answered.
  signal(msg) {
    const handled = this.signaling.then(() => (this.closed ? undefined : this.onSignal(msg)));
    this.signaling = handled.catch(() => {});
    return handled;
  }

  async onSignal(msg) {
    const pc = this.pc;
    try {
      if (msg.type === 'offer' || msg.type === 'answer') {
        const collision = msg.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        if (msg.type === 'answer') this.offerSent = null;
        await pc.setRemoteDescription({ type: msg.type, sdp: msg.sdp });
        // A call with media is answered with ours (MDN's video call guide);
        // the tracks reuse the offered transceivers, so the answer sends.
        if (msg.type === 'offer' && /^m=(audio|video) [1-9]/m.test(msg.sdp)) await this.startMedia(false);
        if (msg.type === 'offer') {
          await pc.setLocalDescription();
          send({ type: pc.localDescription.type, target: this.name, sdp: pc.localDescription.sdp });
        }
      } else if (msg.type === 'candidate') {
        if (!msg.candidate) {
          await pc.addIceCandidate({ candidate: '' }).catch(() => {}); // end of candidates
          return;
        }
        await pc.addIceCandidate({
          candidate: msg.candidate,
          sdpMid: msg.sdpMid ?? null,
          sdpMLineIndex: msg.sdpMLineIndex ?? null,
          usernameFragment: msg.usernameFragment ?? null,
        });
      }
    } catch (e) {
      if (this.closed) return; // hung up while this message was handled
      if (msg.type === 'candidate' && this.ignoreOffer) return;
      this.system(`signaling with ${this.name} failed: ${e.message}`, true);
      banner(`Signaling with ${this.name} failed: ${e.message}`);
    }
  }

  // Adds our camera and microphone to the call (once). With `renegotiate`
  // the tracks fire negotiationneeded and an offer goes out; while an offer
  // is being answered they join that answer instead.
  async startMedia(renegotiate = true) {
    if (this.localStream) return true;
    // An incoming call with media asks once: after a refusal (or no
    // device) later offers are answered receive-only without asking again;
    // the user's own "Video"/"Start video" always asks.
    if (!renegotiate && this.mediaRefused) return false;
    if (!this.gettingMedia) {
      this.gettingMedia = (async () => {
        try {
          if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error('this page has no camera access (it needs https or localhost)');
          let stream;
          try {
            stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
          } catch (e) {
            // No camera (or none that fits): the microphone alone.
            if (e.name !== 'NotFoundError' && e.name !== 'OverconstrainedError' && e.name !== 'NotReadableError') throw e;
            stream = await navigator.mediaDevices.getUserMedia({ audio: true });
            this.system(`no camera (${e.message || e.name}): sending the microphone only`, true);
          }
          if (this.closed) { for (const t of stream.getTracks()) t.stop(); return false; }
          this.localStream = stream;
          this.mediaRefused = false;
          for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
          this.system(`sending ${stream.getVideoTracks().length ? 'camera and microphone' : 'microphone'}${renegotiate ? '' : ' in the answer'}`);
          return true;
        } catch (e) {
          this.mediaRefused = true;
          this.system(`no camera or microphone: ${e.message || e}; receiving only`, true);
          banner(`Camera or microphone unavailable: ${e.message || e}`);
          return false;
        } finally {
          this.gettingMedia = null;
          if (app.active === this.name) renderActive();
        }
      })();
    }
    return this.gettingMedia;
  }

  attachChat(channel) {
    this.chat = channel;
    channel.onopen = () => {
      this.system('data channel open: say hello');
      if (app.active === this.name) renderActive();
    };
    channel.onclose = () => {
      if (!this.closed) this.system('chat channel closed', true);
      if (app.active === this.name) renderActive();
    };
    channel.onmessage = (event) => {
      if (typeof event.data === 'string') this.line('remote', this.name, event.data);
    };
  }

  say(text) {
    if (!this.chat || this.chat.readyState !== 'open') return false;
    this.chat.send(text);
    this.line('local', 'you', text);
    return true;
  }

  line(kind, who, text) {
    const body = el('span', { class: 'text', text });
    if (kind === 'remote' && /^\s*[{[]/.test(text)) {
      try { body.textContent = JSON.stringify(JSON.parse(text), null, 2); body.classList.add('json'); } catch { /* plain text */ }
    }
    const li = el('li', { class: `msg ${kind}`, 'data-from': who }, el('span', { class: 'meta', text: who }), body);
    this.append(li);
  }

  system(text, bad = false) {
    this.append(el('li', { class: `msg system${bad ? ' bad' : ''}`, text }));
  }

  append(li) {
    this.logEl.append(li);
    const logs = $('logs');
    logs.scrollTop = logs.scrollHeight;
  }

  // After a `rate-limited` refusal: sends our offer once more, after a
  // back-off, if it is unanswered, was sent within OFFER_REFUSAL_WINDOW and
  // not sent again already; the SDP sent is the current local description,
  // with the candidates gathered since (whose own signals may have been
  // refused too). Whether it will be sent again.
  retryOffer() {
    const offer = this.offerSent;
    if (!offer || offer.retried || performance.now() - offer.at > OFFER_REFUSAL_WINDOW) return false;
    offer.retried = true;
    this.system('the server was busy: sending the offer again shortly');
    setTimeout(() => {
      const pc = this.pc;
      if (this.closed || this.offerSent !== offer || pc.signalingState !== 'have-local-offer') return;
      send({ type: 'offer', target: this.name, sdp: pc.localDescription.sdp });
    }, OFFER_RETRY_MS * (1 + Math.random()));
    return true;
  }

  close(reason) {
    if (this.closed) return;
    this.closed = true;
    this.system(`call ended: ${reason}`);
    for (const abort of [...this.transfers]) abort(`call ended: ${reason}`);
    this.transfers.clear();
    if (this.localStream) for (const t of this.localStream.getTracks()) t.stop();
    this.localStream = null;
    this.remoteStream = null;
    this.pc.close();
    app.peers.delete(this.name);
    this.logEl.remove();
    if (app.active === this.name) {
      app.active = null;
      $('empty-log').hidden = false;
      banner(`Call with ${this.name} ended: ${reason}.`, 'info');
    }
    renderUsers(app.users);
    renderActive();
  }
}

// ---------- chat ----------

$('chat-form').onsubmit = (event) => {
  event.preventDefault();
  const text = $('chat-input').value;
  const peer = app.active && app.peers.get(app.active);
  if (!text || !peer) return;
  if (peer.say(text)) $('chat-input').value = '';
};

$('join-form').onsubmit = (event) => {
  event.preventDefault();
  const name = $('name').value.trim();
  if (!name) return;
  app.wanted = name;
  if (send({ type: 'join', name })) app.joinedOn = app.ws;
};

// ---------- files ----------

function transferRow(dir, peerName, name, size) {
  const li = el('li', { class: 'transfer', 'data-dir': dir, 'data-name': name, 'data-state': 'running' });
  const progress = el('progress', { max: String(Math.max(size, 1)), value: '0' });
  const state = el('span', { class: 'state', text: '0%' });
  const detail = el('span', { class: 'detail' });
  li.append(el('span', { text: `${dir === 'out' ? '→' : '←'} ${name} (${formatBytes(size)}) ${dir === 'out' ? 'to' : 'from'} ${peerName}` }), state, progress, detail);
  $('transfers').prepend(li);
  const started = performance.now();
  return {
    li,
    progress(bytes) {
      progress.value = bytes;
      const secs = (performance.now() - started) / 1000;
      state.textContent = `${size ? Math.floor((100 * bytes) / size) : 100}% · ${formatBytes(bytes / Math.max(secs, 0.001))}/s`;
    },
    done(text, hash, extra = {}) {
      progress.value = progress.max;
      li.dataset.state = 'done';
      for (const [k, v] of Object.entries(extra)) li.dataset[k] = v;
      state.textContent = text;
      detail.replaceChildren('SHA-256 ', el('span', { class: 'sha256', text: hash }));
    },
    fail(text) {
      li.dataset.state = 'failed';
      state.textContent = 'failed';
      detail.textContent = text;
    },
    link(blob) {
      const a = el('a', { href: URL.createObjectURL(blob), download: name, text: 'save' });
      detail.append(' · ', a);
    },
  };
}

$('file-input').onchange = () => {
  const input = $('file-input');
  const peer = app.active && app.peers.get(app.active);
  for (const file of input.files) {
    if (peer) sendFile(peer, file);
  }
  input.value = '';
};

// A promise that rejects once `abort(reason)` is called: each wait of a file
// transfer races it, so that a channel that closes or a call that ends
// fails the transfer. A closed channel never fires `bufferedamountlow` (W3C
// webrtc-pc §6.2), and the channels of a call ended with
// RTCPeerConnection.close() need not fire `close` (its close() method), so
// neither event can be waited for alone.
function abortable() {
  let abort;
  const aborted = new Promise((_, reject) => { abort = (reason) => reject(new Error(reason)); });
  aborted.catch(() => {});
  return { aborted, abort };
}

async function sendFile(peer, file) {
  const row = transferRow('out', peer.name, file.name, file.size);
  if (file.size > MAX_FILE) { row.fail(`larger than ${formatBytes(MAX_FILE)}`); return; }
  let channel;
  try {
    channel = peer.pc.createDataChannel('file');
  } catch (e) {
    row.fail(e.message);
    return;
  }
  const { aborted, abort } = abortable();
  peer.transfers.add(abort);
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = HIGH_WATER / 4;
  const opened = new Promise((resolve, reject) => {
    channel.onopen = resolve;
    channel.onerror = (e) => reject(e.error || new Error('channel error'));
  });
  opened.catch(() => {});
  const reply = new Promise((resolve, reject) => {
    channel.onmessage = (event) => {
      try { resolve(JSON.parse(event.data)); } catch (e) { reject(e); }
    };
  });
  reply.catch(() => {});
  channel.onclose = () => abort('the channel closed before the receiver confirmed');
  const until = (promise) => Promise.race([promise, aborted]);
  try {
    const bytes = await until(file.arrayBuffer());
    const ownHash = sha256(bytes);
    if (channel.readyState !== 'open') await until(opened);
    channel.send(JSON.stringify({ type: 'file', name: file.name, size: file.size, mime: file.type }));
    let offset = 0;
    while (offset < bytes.byteLength) {
      if (channel.bufferedAmount > HIGH_WATER) {
        await until(new Promise((resolve) => { channel.onbufferedamountlow = resolve; }));
      }
      const end = Math.min(offset + CHUNK, bytes.byteLength);
      channel.send(bytes.slice(offset, end));
      offset = end;
      row.progress(Math.max(0, offset - channel.bufferedAmount));
    }
    const answer = await until(reply);
    const mine = await ownHash;
    peer.transfers.delete(abort);
    const match = answer && answer.sha256 === mine;
    row.done(match ? `sent · ${peer.name} confirmed the SHA-256 ✓` : `sent · SHA-256 MISMATCH (${peer.name} got ${answer && answer.sha256})`, mine, { match: String(match) });
    peer.system(`sent ${file.name}: ${peer.name} confirmed SHA-256 ${mine.slice(0, 16)}…`, !match);
    channel.close();
  } catch (e) {
    peer.transfers.delete(abort);
    row.fail(e.message || String(e));
    peer.system(`sending ${file.name} failed: ${e.message || e}`, true);
    if (channel.readyState !== 'closed') channel.close();
  }
}

function receiveFile(peer, channel) {
  channel.binaryType = 'arraybuffer';
  let meta = null;
  let row = null;
  let received = 0;
  let chunks = [];
  let done = false;
  // The call ended or the channel closed before every byte came.
  const abort = (reason) => {
    peer.transfers.delete(abort);
    if (done) return;
    done = true;
    chunks = [];
    if (row) row.fail(`${reason} at ${received} of ${meta.size} bytes`);
  };
  peer.transfers.add(abort);
  channel.onmessage = async (event) => {
    if (done) return;
    if (meta === null) {
      try {
        meta = JSON.parse(event.data);
      } catch {
        meta = {};
      }
      if (meta.type !== 'file' || typeof meta.name !== 'string' || !Number.isSafeInteger(meta.size) || meta.size < 0 || meta.size > MAX_FILE) {
        peer.system('refused a file: bad header', true);
        done = true;
        peer.transfers.delete(abort);
        channel.close();
        return;
      }
      row = transferRow('in', peer.name, meta.name, meta.size);
    } else if (event.data instanceof ArrayBuffer) {
      received += event.data.byteLength;
      chunks.push(event.data);
      row.progress(received);
    }
    if (received > meta.size) {
      row.fail(`more bytes than announced (${received} > ${meta.size})`);
      done = true;
      chunks = [];
      peer.transfers.delete(abort);
      channel.close();
      return;
    }
    if (received === meta.size) {
      done = true;
      peer.transfers.delete(abort);
      // The peer's `mime` is not trusted: a blob: URL has this page's
      // origin (HTML Living Standard, "blob URL entry"), so a blob typed
      // text/html or image/svg+xml opened from its link would run the
      // sender's script as this page. Bytes are only ever saved.
      const blob = new Blob(chunks, { type: 'application/octet-stream' });
      chunks = [];
      const hash = await sha256(await blob.arrayBuffer());
      // Every byte is here: the file is received even if the call ended
      // while it was hashed; telling the sender is best effort.
      try {
        channel.send(JSON.stringify({ type: 'file-received', size: received, sha256: hash }));
      } catch {
        // The channel closed meanwhile; the sender reports its own end.
      }
      row.done(`received from ${peer.name}`, hash);
      row.link(blob);
      peer.system(`received ${meta.name} (${formatBytes(received)}), SHA-256 ${hash.slice(0, 16)}…`);
    }
  };
  channel.onclose = () => abort('channel closed');
}

// ---------- stats ----------

class StatsHistory {
  constructor() {
    this.rtt = [];
    this.bytesIn = []; this.bytesOut = [];
    this.msgsIn = []; this.msgsOut = [];
    this.prev = null;
  }
  push(key, value) {
    this[key].push(value);
    if (this[key].length > HISTORY) this[key].shift();
  }
}

function resetStatsPanel() {
  for (const id of ['stat-state', 'stat-ice', 'stat-local', 'stat-remote', 'stat-rtt',
    'stat-video-in', 'stat-video-out', 'stat-audio-in', 'stat-audio-out']) $(id).textContent = '–';
  for (const id of ['cap-rtt', 'cap-bytes', 'cap-msgs']) $(id).textContent = '';
  for (const id of ['graph-rtt', 'graph-bytes', 'graph-msgs']) drawGraph($(id), []);
}

function describeCandidate(c) {
  if (!c) return '–';
  const where = c.address ?? c.ip ?? '?';
  return `${c.candidateType} ${c.protocol} ${where}:${c.port}`;
}

// One line per RTP stream: codec, rate, and what the W3C stats say of
// frames and repair.
function describeRtp(r, bps) {
  if (!r) return '–';
  const parts = [];
  if (r.codec && r.codec.mimeType) parts.push(r.codec.mimeType.split('/')[1]);
  if (typeof bps === 'number') parts.push(`${(bps / 1000).toFixed(0)} kbit/s`);
  if (r.frameWidth) parts.push(`${r.frameWidth}×${r.frameHeight}`);
  if (typeof r.framesPerSecond === 'number') parts.push(`${r.framesPerSecond.toFixed(0)} fps`);
  if (typeof r.packetsLost === 'number') parts.push(`lost ${r.packetsLost}`);
  if (typeof r.nackCount === 'number') parts.push(`NACK ${r.nackCount}`);
  if (typeof r.pliCount === 'number') parts.push(`PLI ${r.pliCount}`);
  return parts.join(' · ') || r.kind;
}

async function sampleStats(peer) {
  const report = await peer.pc.getStats();
  let pair = null;
  let msgsIn = 0;
  let msgsOut = 0;
  const rtp = {};
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
    if (s.type === 'data-channel') { msgsIn += s.messagesReceived || 0; msgsOut += s.messagesSent || 0; }
    if ((s.type === 'inbound-rtp' || s.type === 'outbound-rtp') && (s.kind === 'audio' || s.kind === 'video')) {
      rtp[`${s.type === 'inbound-rtp' ? 'in' : 'out'}_${s.kind}`] = s;
    }
  });
  if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
  const now = performance.now();
  const sample = {
    t: now,
    bytesIn: pair ? pair.bytesReceived || 0 : 0,
    bytesOut: pair ? pair.bytesSent || 0 : 0,
    msgsIn, msgsOut,
  };
  const h = peer.stats;
  if (h.prev) {
    const dt = Math.max((sample.t - h.prev.t) / 1000, 0.001);
    h.push('bytesIn', Math.max(0, (sample.bytesIn - h.prev.bytesIn) / dt));
    h.push('bytesOut', Math.max(0, (sample.bytesOut - h.prev.bytesOut) / dt));
    h.push('msgsIn', Math.max(0, (sample.msgsIn - h.prev.msgsIn) / dt));
    h.push('msgsOut', Math.max(0, (sample.msgsOut - h.prev.msgsOut) / dt));
  }
  h.prev = sample;
  const rttMs = pair && typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
  if (rttMs !== null) h.push('rtt', rttMs);
  // Bits per second of each RTP stream, from its byte counter.
  const rates = {};
  for (const [key, r] of Object.entries(rtp)) {
    const bytes = key.startsWith('in') ? r.bytesReceived : r.bytesSent;
    const before = h.rtpPrev && h.rtpPrev[key];
    if (before && typeof bytes === 'number') rates[key] = (8 * (bytes - before.bytes)) / Math.max((now - before.t) / 1000, 0.001);
    rtp[key] = { ...r, codec: r.codecId && byId.get(r.codecId) };
  }
  h.rtpPrev = Object.fromEntries(Object.entries(rtp).map(([k, r]) => [k, { t: now, bytes: k.startsWith('in') ? r.bytesReceived : r.bytesSent }]));
  return {
    rtp,
    rates,
    pair,
    local: pair && byId.get(pair.localCandidateId),
    remote: pair && byId.get(pair.remoteCandidateId),
    rttMs,
  };
}

function drawGraph(canvas, series, format = (v) => v.toFixed(0)) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  if (series.some((s) => s.values.length > 1)) {
    ctx.fillStyle = '#8a949e';
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillText(`max ${format(max)}`, 4, 11);
  }
  ctx.strokeStyle = '#e4e8eb';
  ctx.lineWidth = 1;
  for (const y of [0.25, 0.5, 0.75]) {
    ctx.beginPath(); ctx.moveTo(0, height * y); ctx.lineTo(width, height * y); ctx.stroke();
  }
  for (const { values, color } of series) {
    if (values.length < 2) continue;
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = width - (values.length - 1 - i) * (width / (HISTORY - 1));
      const y = height - 3 - (v / max) * (height - 8);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

const last = (a) => (a.length ? a[a.length - 1] : 0);

async function tickStats() {
  // Every call keeps its history, so switching calls shows a full graph.
  const samples = new Map();
  for (const peer of [...app.peers.values()]) {
    try {
      samples.set(peer.name, await sampleStats(peer));
    } catch {
      // closed while sampling
    }
  }
  const peer = app.active && app.peers.get(app.active);
  const s = peer && samples.get(peer.name);
  if (!s) return;
  const h = peer.stats;
  $('stat-state').textContent = peer.pc.connectionState;
  $('stat-ice').textContent = `${peer.pc.iceConnectionState}${s.pair ? ` · pair ${s.pair.state}` : ''}`;
  $('stat-local').textContent = describeCandidate(s.local);
  $('stat-remote').textContent = describeCandidate(s.remote);
  $('stat-rtt').textContent = s.rttMs === null ? '–' : `${s.rttMs.toFixed(1)} ms`;
  for (const key of ['in_video', 'out_video', 'in_audio', 'out_audio']) {
    $(`stat-${key.replace('_', '-').replace(/^(in|out)-(.*)$/, '$2-$1')}`).textContent = describeRtp(s.rtp[key], s.rates[key]);
  }
  $('cap-rtt').textContent = s.rttMs === null ? '' : `${s.rttMs.toFixed(1)} ms`;
  $('cap-bytes').textContent = `${formatBytes(last(h.bytesIn))}/s / ${formatBytes(last(h.bytesOut))}/s`;
  $('cap-msgs').textContent = `${last(h.msgsIn).toFixed(0)} / ${last(h.msgsOut).toFixed(0)}`;
  const IN = '#2b6cb0';
  const OUT = '#b7410e';
  drawGraph($('graph-rtt'), [{ values: h.rtt, color: '#1f8a4c' }], (v) => `${v.toFixed(1)} ms`);
  drawGraph($('graph-bytes'), [{ values: h.bytesIn, color: IN }, { values: h.bytesOut, color: OUT }], (v) => `${formatBytes(v)}/s`);
  drawGraph($('graph-msgs'), [{ values: h.msgsIn, color: IN }, { values: h.msgsOut, color: OUT }], (v) => `${v.toFixed(0)}/s`);
}

setInterval(() => { tickStats(); }, 1000);

// ---------- start ----------

if (!window.RTCPeerConnection) {
  banner('This browser has no WebRTC (RTCPeerConnection): calls will not work here.');
}
resetStatsPanel();
renderActive();
// ---------- broadcast (WHIP) and watch (WHEP) ----------
//
// One RTCPeerConnection per role, set up by one HTTP exchange (RFC 9725,
// draft-ietf-wish-whep): the offer, with every candidate gathered, goes in a
// POST; the answer comes back with 201 Created and the session's Location,
// which a DELETE ends. With a server --secret, the page's ?whip_token= and
// ?whep_token= are sent as bearer tokens.

const cast = { role: null, pc: null, resource: null, stream: null, token: null };

// The broadcast's simulcast layers, lowest first: a quarter, half and full
// resolution (the browser sends fewer at small capture sizes).
const CAST_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4 },
  { rid: 'h', scaleResolutionDownBy: 2 },
  { rid: 'f', scaleResolutionDownBy: 1 },
];

function castState(text) { $('broadcast-state').textContent = text; }

// Resolves once ICE gathering is complete (or after 3 s with what there is).
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 3000);
  });
}

// The offer POSTed; gives the session's resource and the answer.
async function castSession(endpoint, pc, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(endpoint, { method: 'POST', headers, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) {
    const why = { 401: 'a bearer token is needed (?whip_token= / ?whep_token=)', 404: 'nobody is broadcasting', 409: 'someone else is broadcasting', 429: 'too many attempts; wait a moment' }[res.status];
    throw new Error(`${endpoint} answered ${res.status}: ${why || body.trim()}`);
  }
  return { resource: new URL(res.headers.get('Location'), location.href).href, answer: body };
}

function deleteResource(resource, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  fetch(resource, { method: 'DELETE', headers }).catch(() => {});
}

async function stopCast(note = 'Not broadcasting.') {
  const { pc, resource, stream, token } = cast;
  Object.assign(cast, { role: null, pc: null, resource: null, stream: null });
  if (resource) deleteResource(resource, token);
  if (pc) pc.close();
  if (stream) for (const t of stream.getTracks()) t.stop();
  $('broadcast-tile').hidden = true;
  $('broadcast-video').srcObject = null;
  $('broadcast-start').textContent = 'Broadcast';
  $('watch-start').textContent = 'Watch';
  $('broadcast-start').disabled = false;
  $('watch-start').disabled = false;
  castState(note);
}

// A connection that fails or closes (the publisher left: the server ends
// its viewers) stops the cast; one disconnected for 5 s too.
function watchCastState(pc) {
  let lost = null;
  pc.onconnectionstatechange = () => {
    if (cast.pc !== pc) return;
    clearTimeout(lost);
    const state = pc.connectionState;
    if (state === 'failed' || state === 'closed') stopCast(cast.role === 'watch' ? 'The broadcast ended.' : 'The broadcast connection failed.');
    else if (state === 'disconnected') {
      castState('The connection is interrupted…');
      lost = setTimeout(() => { if (cast.pc === pc) stopCast(cast.role === 'watch' ? 'The broadcast ended.' : 'The broadcast connection was lost.'); }, 5000);
    } else if (state === 'connected') castState(cast.role === 'broadcast' ? 'Broadcasting.' : 'Watching the broadcast.');
  };
}

async function startCast(role) {
  if (cast.role) { await stopCast(); return; }
  const page = new URLSearchParams(location.search);
  const token = page.get(role === 'broadcast' ? 'whip_token' : 'whep_token');
  const pc = new RTCPeerConnection(rtcConfiguration());
  Object.assign(cast, { role, pc, token });
  $('broadcast-start').disabled = role !== 'broadcast';
  $('watch-start').disabled = role !== 'watch';
  try {
    const video = $('broadcast-video');
    if (role === 'broadcast') {
      castState('Starting the camera…');
      // 720p asked, so that a camera that has it sends three layers.
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: true });
      // Stopped while the camera started: it is not kept.
      if (cast.pc !== pc) { for (const t of stream.getTracks()) t.stop(); return; }
      cast.stream = stream;
      // Video as simulcast (RFC 8853): the server forwards each viewer the
      // layer its bandwidth estimate fits, switching at keyframes.
      for (const track of stream.getTracks()) {
        const init = { direction: 'sendonly', streams: [stream] };
        if (track.kind === 'video') init.sendEncodings = CAST_LAYERS.map((l) => ({ ...l }));
        pc.addTransceiver(track, init);
      }
      video.muted = true;
      video.srcObject = stream;
      $('broadcast-caption').textContent = 'you (broadcasting)';
    } else {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const remote = new MediaStream();
      pc.ontrack = (event) => { remote.addTrack(event.track); video.srcObject = remote; };
      video.muted = false;
      $('broadcast-caption').textContent = 'the broadcast';
    }
    watchCastState(pc);
    castState('Connecting…');
    const { resource, answer } = await castSession(role === 'broadcast' ? '/whip' : '/whep', pc, token);
    // Stopped while the offer was out: the session just made is ended.
    if (cast.pc !== pc) { deleteResource(resource, token); return; }
    cast.resource = resource;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    if (cast.pc !== pc) return;
    $('broadcast-tile').hidden = false;
    $(role === 'broadcast' ? 'broadcast-start' : 'watch-start').textContent = 'Stop';
  } catch (e) {
    if (cast.pc === pc) await stopCast(e.message || String(e));
  }
}

$('broadcast-start').onclick = () => startCast('broadcast');
$('watch-start').onclick = () => startCast('watch');
// For tests and the console: the broadcast's peer connection.
window.ferrtcCast = cast;

connectSignaling();
