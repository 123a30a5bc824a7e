// The chat page's behaviour: one WebSocket per tab, streaming replies, the sidebar and the
// composer. Loaded as a module on every page (CSP allows no inline script); pages without
// #chat-app only get the copy buttons on code blocks.

const WS_PATH = "/ws/chat/";
// Where the last model chosen is kept, for the next new chat.
const MODEL_KEY = "chatbot.model";
const NEAR_BOTTOM_PX = 120;
// Set to "off" when the user turns single-key shortcuts off.
const SINGLE_KEYS_KEY = "chatbot.singleKeyShortcuts";
const singleKeysOn = () => localStorage.getItem(SINGLE_KEYS_KEY) !== "off";
const NEAR_TOP_PX = 80;
// Close codes and status names, from the server (conversations.payloads.page_constants) as
// data attributes of #chat-app.
const SERVER = document.getElementById("chat-app")?.dataset ?? {};
const SIGNED_OUT = Number(SERVER.closeSignedOut);
const ACCESS_ENDED = Number(SERVER.closeAccessEnded);
const STREAMING = SERVER.statusStreaming;
const SESSION_CHECK_DELAY_MS = 1000;
// As many files as the server takes on one message (attachments.attaching.MAX_ATTACHMENTS).
const MAX_ATTACHMENTS = 10;

// Words the page shows, translated by the server (conversations.context_processors) into
// #chat-strings; ``%(name)s`` takes a value.
const STRINGS = JSON.parse(document.getElementById("chat-strings")?.textContent ?? "{}");
// Labels of the user's models by id (the chat view's), for bubbles rendered without them.
const MODEL_LABELS = JSON.parse(document.getElementById("model-labels")?.textContent ?? "{}");
function t(key, values = {}) {
  return (STRINGS[key] ?? key).replace(/%\((\w+)\)s/g, (_match, name) => values[name] ?? "");
}

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

// A byte count as people read it, in the page's language ("1.2 MB").
function fileSize(bytes) {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return new Intl.NumberFormat(document.documentElement.lang || undefined, {
    style: "unit", unit: units[unit], unitDisplay: unit ? "short" : "long", maximumFractionDigits: unit ? 1 : 0,
  }).format(value);
}

// Replies rendered without the page's labels (WebSocket events, older pages) name their
// model by its label too, when this page knows it.
function labelModels(root) {
  for (const shown of root?.querySelectorAll(".reply-model[data-model]") ?? []) {
    const label = MODEL_LABELS[shown.dataset.model];
    if (label) shown.querySelector(".model-name").textContent = label;
  }
}

function cloneTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

// A file of a message (its payload's ``attachments`` entry) as the page's partial shows it:
// names and sizes only ever as text.
function attachmentItem(file, filesUrl) {
  const url = `${filesUrl}/${encodeURIComponent(file.fileId)}`;
  if (file.kind === "image") {
    const item = cloneTemplate("attachment-image-template");
    item.dataset.fileId = file.fileId;
    const link = item.querySelector("a");
    link.href = url;
    link.setAttribute("aria-label", t("openImage", { name: file.name }));
    const image = item.querySelector("img");
    image.src = url;
    image.alt = file.name;
    return item;
  }
  const item = cloneTemplate("attachment-document-template");
  item.dataset.fileId = file.fileId;
  const link = item.querySelector("a");
  link.href = url;
  link.download = file.name;
  link.textContent = file.name;
  item.querySelector(".attachment-size").textContent = fileSize(file.size);
  return item;
}

function requestId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

// Code and tables scroll sideways: focusable, so that a keyboard can scroll them too.
function makeScrollable(root) {
  for (const block of root.querySelectorAll(".md pre, .md table")) block.tabIndex = 0;
}

function enhanceCodeBlocks(root) {
  makeScrollable(root);
  // The Copy button sits in a bar above the code, never over the end of a long line.
  for (const pre of root.querySelectorAll(".md pre")) {
    if (pre.parentElement.classList.contains("code-block")) continue;
    const block = document.createElement("div");
    block.className = "code-block";
    const bar = document.createElement("div");
    bar.className = "code-toolbar";
    const language = document.createElement("span");
    language.className = "code-language";
    language.textContent = pre.querySelector("code")?.className.match(/language-(\S+)/)?.[1] ?? "";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button copy-code";
    button.textContent = t("copy");
    button.setAttribute("aria-label", t("copyCode"));
    bar.append(language, button);
    pre.replaceWith(block);
    block.append(bar, pre);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-code");
  if (!button) return;
  const code = button.closest(".code-block").querySelector("pre code, pre");
  const text = code ? code.textContent : "";
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => { button.textContent = t("copy"); }, 1500);
  };
  if (!navigator.clipboard) { done(t("copyFailed")); return; }
  navigator.clipboard.writeText(text).then(() => done(t("copied")), () => done(t("copyFailed")));
});

// The demo banner, once dismissed, stays away (the server reads the cookie).
document.getElementById("dismiss-demo-banner")?.addEventListener("click", () => {
  document.cookie = "demo_banner=dismissed; path=/; max-age=31536000; SameSite=Lax";
  document.getElementById("demo-banner")?.remove();
});

// --- Streaming Markdown ------------------------------------------------------------------

// A table is shown once its header and delimiter rows are complete, and then row by row;
// the line being written is held back when it opens a table row or a fence. Otherwise a
// half-written table or fence would flip between paragraph and block on every frame.
function stableMarkdown(text) {
  const lines = text.split("\n");
  const writing = lines.pop();
  let fenced = false;
  for (const line of lines) if (/^ {0,3}(```|~~~)/.test(line)) fenced = !fenced;
  if (!fenced) {
    let rows = 0;
    while (rows < lines.length && lines[lines.length - 1 - rows].trimStart().startsWith("|")) rows += 1;
    // A lone header row waits for its delimiter row (or for a line that rules it out).
    if (rows === 1 && (writing === "" || writing.trimStart().startsWith("|"))) lines.pop();
  }
  const held = /^\s*(\||`|~)/.test(writing);
  return (held ? lines : [...lines, writing]).join("\n");
}

// The streaming renderer: markdown-it (the engine family of the server's markdown-it-py,
// same preset and rules) and DOMPurify configured with exactly the server's allow-lists
// (conversations/rendering.py, sent in #sanitizer-policy). Null when either is missing:
// then the text streams as plain text.
function streamRenderer() {
  const policyElement = document.getElementById("sanitizer-policy");
  const { markdownit: markdownIt, DOMPurify: purify } = globalThis;
  if (!policyElement || !markdownIt || !purify?.isSupported) return null;
  const policy = JSON.parse(policyElement.textContent);
  const md = markdownIt("commonmark", { html: false })
    .enable(["table", "strikethrough"])
    .disable("image");
  const purifier = purify(window);
  purifier.addHook("uponSanitizeAttribute", (node, data) => {
    const allowed = policy.attributes[node.nodeName.toLowerCase()] ?? [];
    if (!allowed.includes(data.attrName)) data.keepAttr = false;
  });
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A" && node.hasAttribute("href")) node.setAttribute("rel", policy.rel);
  });
  const config = {
    ALLOWED_TAGS: policy.tags,
    ALLOWED_ATTR: [...new Set(Object.values(policy.attributes).flat())],
    // The allowed schemes, or a relative address (as nh3 allows).
    ALLOWED_URI_REGEXP: new RegExp(
      `^(?:(?:${policy.schemes.join("|")}):|[^a-z]|[a-z+.\\-]+(?:[^a-z+.\\-:]|$))`, "i"),
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  return (text) => purifier.sanitize(md.render(stableMarkdown(text)), config);
}

// Offsets of streamed text count code points, as the server's Python strings do.
const codePoints = (text) => Array.from(text);

class Chat {
  constructor(app) {
    this.app = app;
    this.sessionId = app.dataset.sessionId || null;
    this.chatUrl = app.dataset.chatUrl;
    this.suspended = app.dataset.suspended === "true";
    this.loginUrl = app.dataset.loginUrl;
    this.filesUrl = app.dataset.filesUrl;
    // Uploads in flight: chip -> XMLHttpRequest.
    this.uploads = new Map();
    // Where the focus goes when an editor opened from elsewhere (the ↑ shortcut) is cancelled.
    this.editorReturns = new WeakMap();
    this.ended = false;
    this.checkingSession = false;
    this.deleting = false;
    this.pending = new Map();
    // The model each of this tab's sends asked for, by request id: the header shows it.
    this.sentModels = new Map();
    this.outbox = [];
    this.socket = null;
    this.connected = false;
    this.reconnectDelay = 500;
    this.loadingOlder = false;
    // Replies streaming on this page: messageId -> {points, body, frame}.
    this.streams = new Map();
    this.renderMarkdown = streamRenderer();
    this.el = {
      sidebar: document.getElementById("sidebar"),
      sessions: document.getElementById("session-list"),
      // Every list of the sidebar: the pinned group and the others.
      lists: document.getElementById("session-lists"),
      moreSessions: document.getElementById("load-more-sessions"),
      title: document.getElementById("conversation-title"),
      scroller: document.getElementById("scroller"),
      messages: document.getElementById("messages"),
      older: document.getElementById("load-older"),
      error: document.getElementById("error-banner"),
      composer: document.getElementById("composer"),
      input: document.getElementById("composer-input"),
      send: document.getElementById("send-button"),
      stop: document.getElementById("stop-button"),
      renameDialog: document.getElementById("rename-dialog"),
      deleteDialog: document.getElementById("delete-dialog"),
      toggle: document.getElementById("toggle-sidebar"),
      closeSidebar: document.getElementById("close-sidebar"),
      backdrop: document.getElementById("drawer-backdrop"),
      model: document.getElementById("model-picker"),
      main: document.getElementById("main"),
      chips: document.getElementById("attachment-chips"),
      fileInput: document.getElementById("file-input"),
      attach: document.getElementById("attach-button"),
      dropZone: document.getElementById("drop-zone"),
      conversationModel: document.getElementById("conversation-model"),
      instructionsButton: document.getElementById("edit-instructions"),
      instructionsDialog: document.getElementById("instructions-dialog"),
      instructionsForm: document.getElementById("instructions-form"),
      instructions: document.getElementById("instructions-input"),
      instructionsCount: document.getElementById("instructions-count"),
      instructionsError: document.getElementById("instructions-error"),
    };
    // What the server has: the dialog opens with it, whatever was typed and cancelled.
    this.savedInstructions = this.el.instructions.value;
    this.restoreModel();
    this.bind();
    this.connect();
    this.updateComposer();
    this.scrollToBottom();
    // Keyboard users start where they type, not above every sidebar link; phones keep
    // their keyboard closed until the composer is tapped.
    if (!matchMedia("(pointer: coarse)").matches && !this.el.input.disabled) {
      this.el.input.focus({ preventScroll: true });
    }
  }

  // --- WebSocket ---------------------------------------------------------------------

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${WS_PATH}`);
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.checkingSession = false;
      this.connected = true;
      this.reconnectDelay = 500;
      this.app.dataset.connected = "true";
      if (this.el.error.dataset.kind === "connection") this.hideError();
      for (const queued of this.outbox.splice(0)) socket.send(JSON.stringify(queued));
      // Deltas sent while this tab was away are caught up from the reply's runner.
      for (const bubble of this.el.messages.querySelectorAll(`.message[data-status="${STREAMING}"]`)) {
        this.resume(bubble.dataset.messageId);
      }
      this.updateComposer();
    });
    socket.addEventListener("message", (event) => this.handle(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      this.connected = false;
      this.app.dataset.connected = "false";
      this.updateComposer();
      if (event.code === ACCESS_ENDED) {
        this.endAccess(event.reason);
        return;
      }
      if (this.checkingSession && !opened) {
        this.signedOut();
        return;
      }
      if (event.code === SIGNED_OUT) {
        // A password changed in this browser moves its session to a new key and closes
        // this socket too: one new socket tells that apart from being signed out.
        this.checkingSession = true;
        setTimeout(() => this.connect(), SESSION_CHECK_DELAY_MS);
        return;
      }
      this.showError(t("reconnecting"), "connection");
      setTimeout(() => this.connect(), this.reconnectDelay);
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, 10000);
    });
  }

  signedOut() {
    this.ended = true;
    this.restorePending();
    const link = document.createElement("a");
    link.href = `${this.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
    link.textContent = t("signIn");
    this.showError(t("signedOut"), "signed-out");
    this.el.error.append(" ", link);
    this.updateComposer();
  }

  endAccess(reason) {
    this.restorePending();
    if (reason === "suspended") {
      this.suspended = true;
      this.showError(t("suspended"), "ended");
    } else {
      this.ended = true;
      this.showError(t("deactivated"), "ended");
    }
    this.updateComposer();
  }

  restorePending() {
    // Sends the server did not take: give the text back so nothing typed is lost.
    const [text] = this.pending.values();
    this.pending.clear();
    if (text !== undefined && !this.el.input.value) this.el.input.value = text;
  }

  post(message) {
    // Typed before the socket opened (or while it reconnects): sent as soon as it is open.
    if (this.connected) this.socket.send(JSON.stringify(message));
    else this.outbox.push(message);
  }

  handle(event) {
    const handlers = {
      turn: () => this.onTurn(event),
      delta: () => this.onDelta(event),
      reply: () => this.onReply(event.message),
      title: () => this.onTitle(event),
      sessionDeleted: () => this.onSessionDeleted(event),
      branch: () => this.onBranch(event),
      error: () => this.onError(event),
    };
    handlers[event.type]?.();
  }

  onTurn(event) {
    this.upsertSessionItem(event.sessionId, event.sessionHtml);
    const mine = event.requestId && this.pending.has(event.requestId);
    if (mine) {
      this.pending.delete(event.requestId);
      this.hideError();
      this.clearSentChips(event.requestId);
      if (event.created) this.openSession(event.sessionId);
      // The conversation answers with the model this send chose, from this turn on.
      const model = this.sentModels.get(event.requestId) ?? (event.created ? Object.keys(MODEL_LABELS)[0] : null);
      if (model && event.sessionId === this.sessionId) this.showConversationModel(model);
    }
    this.sentModels.delete(event.requestId);
    if (event.sessionId !== this.sessionId) return;
    document.getElementById("empty-state")?.remove();
    const follow = mine || this.nearBottom();
    const { userMessage, reply } = event;
    const userBubble = document.getElementById(`m-${userMessage.messageId}`);
    if (event.regenerated && userBubble) {
      // The new reply is a sibling of the one shown: that branch leaves the page.
      this.removeAfter(userBubble);
    } else if (!userBubble) {
      // A send continues the branch shown; an edit starts a new one beside the edited
      // message, so whatever followed their common parent leaves the page.
      const parent = userMessage.parentId && document.getElementById(`m-${userMessage.parentId}`);
      if (userMessage.parentId && !parent) {
        this.reloadThread();
        return;
      }
      if (parent) this.removeAfter(parent);
      else this.el.messages.replaceChildren();
      this.el.messages.append(fragment(userMessage.html));
    }
    this.applySiblings(document.getElementById(`m-${userMessage.messageId}`), userMessage.siblingIds);
    this.applyAttachments(document.getElementById(`m-${userMessage.messageId}`), userMessage.attachments);
    if (reply && !document.getElementById(`m-${reply.messageId}`)) {
      this.el.messages.append(fragment(reply.html));
      this.applySiblings(document.getElementById(`m-${reply.messageId}`), reply.siblingIds);
      labelModels(document.getElementById(`m-${reply.messageId}`));
    }
    this.updateComposer();
    if (follow) this.scrollToBottom();
  }

  removeAfter(bubble) {
    while (bubble.nextElementSibling) bubble.nextElementSibling.remove();
  }

  // --- Branches ------------------------------------------------------------------------

  // The "‹ 2 / 3 ›" switcher of a message with siblings (made from the page's partial for
  // bubbles that come over the WebSocket), or none.
  applySiblings(bubble, siblingIds) {
    if (!bubble || !siblingIds) return;
    let switcher = bubble.querySelector(":scope > .branch-switcher");
    const index = siblingIds.indexOf(bubble.dataset.messageId);
    if (siblingIds.length < 2 || index < 0) {
      switcher?.remove();
      return;
    }
    if (!switcher) {
      switcher = document.getElementById("branch-switcher-template").content.firstElementChild.cloneNode(true);
      bubble.querySelector(".message-body").after(switcher);
    }
    const targets = { previous: siblingIds[index - 1] ?? "", next: siblingIds[index + 1] ?? "" };
    for (const button of switcher.querySelectorAll("[data-action=switch-branch]")) {
      button.dataset.target = targets[button.dataset.step];
      button.disabled = !button.dataset.target;
    }
    const values = { index: index + 1, total: siblingIds.length };
    switcher.querySelector(".branch-position").textContent = `${values.index} / ${values.total}`;
    switcher.querySelector(".branch-label").textContent = t("branchPosition", values);
  }

  switchBranch(button) {
    if (!this.sessionId || !button.dataset.target) return;
    // Focus comes back to the same control of the switcher once the branch is shown.
    this.refocus = { messageId: button.dataset.target, step: button.dataset.step };
    this.post({ type: "switch", sessionId: this.sessionId, currentMessageId: button.dataset.target, requestId: requestId() });
  }

  onBranch(event) {
    if (event.sessionId === this.sessionId) this.reloadThread();
  }

  messagesUrl() {
    return `${this.chatUrl}c/${this.sessionId}/messages`;
  }

  // The current branch, as the server has it now: its latest page replaces the messages.
  async reloadThread() {
    const sessionId = this.sessionId;
    const load = (this.threadLoads = (this.threadLoads ?? 0) + 1);
    const response = await fetch(this.messagesUrl(), { headers: { Accept: "application/json" } });
    // Only the newest load counts, and only for the conversation still open.
    if (load !== this.threadLoads || sessionId !== this.sessionId) return;
    if (!response.ok) {
      this.showError(t("branchFailed"), "chat");
      return;
    }
    const page = await response.json();
    if (load !== this.threadLoads) return;
    for (const stream of this.streams.values()) cancelAnimationFrame(stream.frame);
    this.streams.clear();
    const messages = fragment(page.html);
    enhanceCodeBlocks(messages);
    labelModels(messages);
    this.el.messages.replaceChildren(messages);
    this.setOlder(page.hasMore, page.before);
    for (const bubble of this.el.messages.querySelectorAll(`.message[data-status="${STREAMING}"]`)) {
      this.resume(bubble.dataset.messageId);
    }
    this.updateComposer();
    this.scrollToBottom();
    this.restoreFocus();
  }

  restoreFocus() {
    const wanted = this.refocus;
    this.refocus = null;
    const switcher = wanted && document.getElementById(`m-${wanted.messageId}`)?.querySelector(".branch-switcher");
    if (!switcher) return;
    const same = switcher.querySelector(`[data-step="${wanted.step}"]`);
    (same.disabled ? switcher.querySelector("[data-action=switch-branch]:not(:disabled)") : same)?.focus();
  }

  setOlder(hasMore, before) {
    if (!hasMore) {
      this.el.older?.remove();
      this.el.older = null;
      return;
    }
    if (!this.el.older) {
      this.el.older = document.getElementById("load-older-template").content.firstElementChild.cloneNode(true);
      this.el.messages.before(this.el.older);
    }
    this.el.older.dataset.before = before;
  }

  // The files of a message that came over the WebSocket (the page renders its own).
  applyAttachments(bubble, files) {
    if (!bubble || !files?.length || bubble.querySelector(".message-attachments")) return;
    if (bubble.querySelector(".message-removed")) return;
    const list = document.createElement("ul");
    list.className = "message-attachments";
    list.setAttribute("aria-label", t("attachedFiles"));
    for (const file of files) list.append(attachmentItem(file, this.filesUrl));
    bubble.querySelector(".message-body").after(list);
  }

  // --- Attaching files (uploaded at once; the send carries their ids) -------------------

  chips() {
    return [...this.el.chips.children];
  }

  uploading() {
    return this.chips().some((chip) => chip.dataset.state === "uploading");
  }

  addFiles(files) {
    if (this.suspended || this.ended) return;
    for (const file of files) {
      if (this.chips().length >= MAX_ATTACHMENTS) {
        this.showError(t("tooManyFiles", { count: MAX_ATTACHMENTS }), "chat");
        break;
      }
      this.upload(file);
    }
  }

  upload(file) {
    const chip = cloneTemplate("attachment-chip-template");
    chip.querySelector(".chip-name").textContent = file.name || t("pastedImage");
    chip.querySelector(".chip-size").textContent = fileSize(file.size);
    chip.querySelector(".chip-remove").setAttribute("aria-label", t("removeFile", { name: file.name || t("pastedImage") }));
    this.el.chips.append(chip);
    this.el.chips.hidden = false;
    const progress = chip.querySelector("progress");
    const request = new XMLHttpRequest();
    this.uploads.set(chip, request);
    request.open("POST", this.filesUrl);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      this.uploads.delete(chip);
      if (request.status === 201 && request.response?.fileId) this.uploaded(chip, request.response);
      else this.refused(chip, request.response?.detail ?? t("uploadFailed"));
    });
    request.addEventListener("error", () => {
      this.uploads.delete(chip);
      this.refused(chip, t("uploadFailed"));
    });
    const form = new FormData();
    form.append("file", file);
    request.send(form);
    this.updateComposer();
  }

  uploaded(chip, stored) {
    chip.dataset.state = "ready";
    chip.dataset.fileId = stored.fileId;
    chip.querySelector("progress").remove();
    chip.querySelector(".chip-name").textContent = stored.name;
    chip.querySelector(".chip-size").textContent = fileSize(stored.size);
    if (stored.kind === "image") {
      const thumb = document.createElement("img");
      thumb.src = `${this.filesUrl}/${encodeURIComponent(stored.fileId)}`;
      thumb.alt = "";
      chip.querySelector(".chip-thumb").append(thumb);
    }
    this.updateComposer();
  }

  // A file the server did not take: the chip says why (its 413, 415 or 400 ``detail``) and
  // stays until removed; the typed message is untouched.
  refused(chip, detail) {
    chip.dataset.state = "refused";
    chip.querySelector("progress")?.remove();
    chip.querySelector(".chip-error").textContent = detail;
    this.updateComposer();
  }

  removeChip(chip) {
    this.uploads.get(chip)?.abort();
    this.uploads.delete(chip);
    // Stored but never sent: removed now rather than left for the cleanup.
    if (chip.dataset.state === "ready") {
      fetch(`${this.filesUrl}/${encodeURIComponent(chip.dataset.fileId)}`, {
        method: "DELETE", headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      }).catch(() => {});
    }
    const next = chip.nextElementSibling ?? chip.previousElementSibling;
    chip.remove();
    this.el.chips.hidden = !this.chips().length;
    (next?.querySelector(".chip-remove") ?? this.el.input).focus();
    this.updateComposer();
  }

  // The ids of the files ready to go, marked as going with the send ``id``.
  takeChips(id) {
    const ids = [];
    for (const chip of this.chips()) {
      if (chip.dataset.state !== "ready") continue;
      chip.dataset.state = "sending";
      chip.dataset.requestId = id;
      chip.querySelector(".chip-remove").disabled = true;
      ids.push(chip.dataset.fileId);
    }
    return ids;
  }

  clearSentChips(id) {
    for (const chip of this.chips()) {
      if (chip.dataset.requestId === id || chip.dataset.state === "refused") chip.remove();
    }
    this.el.chips.hidden = !this.chips().length;
  }

  // A send the server refused: its files stay attached for the next try.
  releaseChips(id) {
    if (!id) return;
    for (const chip of this.chips()) {
      if (chip.dataset.requestId !== id) continue;
      chip.dataset.state = "ready";
      delete chip.dataset.requestId;
      chip.querySelector(".chip-remove").disabled = false;
    }
  }

  bindFiles() {
    const { attach, fileInput, chips, input, main, dropZone } = this.el;
    attach.addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", () => {
      this.addFiles([...fileInput.files]);
      fileInput.value = "";
    });
    chips.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action=remove-attachment]");
      if (button) this.removeChip(button.closest(".attachment-chip"));
    });
    input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (!files.length) return;
      // A pasted screenshot is attached; pasted text still goes into the box.
      if (!event.clipboardData.getData("text/plain")) event.preventDefault();
      this.addFiles(files);
    });
    const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    let depth = 0;
    main.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth += 1;
      dropZone.hidden = this.suspended || this.ended;
    });
    main.addEventListener("dragover", (event) => {
      if (carriesFiles(event)) event.preventDefault();
    });
    main.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) dropZone.hidden = true;
    });
    main.addEventListener("drop", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      dropZone.hidden = true;
      this.addFiles([...event.dataTransfer.files]);
    });
  }

  // A message's Markdown source (a reply's is kept in its bubble; a user's is its text).
  copyMessage(button) {
    const bubble = button.closest(".message");
    const source = bubble.querySelector("template.message-source")?.content.textContent
      ?? bubble.querySelector(".message-body").textContent;
    const done = (label) => {
      button.textContent = label;
      setTimeout(() => { button.textContent = t("copy"); }, 1500);
    };
    if (!navigator.clipboard) { done(t("copyFailed")); return; }
    navigator.clipboard.writeText(source).then(() => done(t("copied")), () => done(t("copyFailed")));
  }

  // --- Editing a message (sent again as a new branch) ------------------------------------

  startEdit(bubble, { returnFocus = null } = {}) {
    const open = bubble.querySelector(".message-editor");
    if (open) {
      open.querySelector("textarea").focus();
      return;
    }
    const body = bubble.querySelector(".message-body");
    const editor = document.getElementById("message-editor-template").content.firstElementChild.cloneNode(true);
    this.editorReturns.set(editor, returnFocus);
    const field = editor.querySelector("textarea");
    field.value = body.textContent;
    body.hidden = true;
    bubble.querySelector(".user-actions").hidden = true;
    body.after(editor);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
    this.updateComposer();
  }

  cancelEdit(editor) {
    const bubble = editor.closest(".message");
    const returnFocus = this.editorReturns.get(editor);
    editor.remove();
    bubble.querySelector(".message-body").hidden = false;
    bubble.querySelector(".user-actions").hidden = false;
    (returnFocus ?? bubble.querySelector("[data-action=edit]")).focus();
  }

  submitEdit(editor) {
    const text = editor.querySelector("textarea").value;
    if (!text.trim() || this.suspended || this.ended || this.streamingReply() || editor.dataset.requestId) return;
    const id = requestId();
    const bubble = editor.closest(".message");
    const message = {
      type: "send", text, requestId: id, sessionId: this.sessionId,
      editMessageId: bubble.dataset.messageId,
    };
    // The edited question keeps the files it had.
    const files = [...bubble.querySelectorAll(".message-attachments [data-file-id]")].map((item) => item.dataset.fileId);
    if (files.length) message.attachments = files;
    if (this.el.model) {
      message.model = this.el.model.value;
      this.sentModels.set(id, message.model);
    }
    // Kept open (and its text with it) until the new branch arrives or the send fails.
    editor.dataset.requestId = id;
    for (const control of editor.querySelectorAll("textarea, button")) control.disabled = true;
    this.post(message);
  }

  // An edit the server refused: its editor opens again with the text, nothing lost.
  reopenEdit(requestId) {
    const editor = requestId && this.el.messages.querySelector(`.message-editor[data-request-id="${CSS.escape(requestId)}"]`);
    if (!editor) return false;
    delete editor.dataset.requestId;
    for (const control of editor.querySelectorAll("textarea, button")) control.disabled = false;
    editor.querySelector("textarea").focus();
    return true;
  }

  resume(messageId) {
    this.post({ type: "resume", messageId });
  }

  stream(bubble) {
    const messageId = bubble.dataset.messageId;
    let stream = this.streams.get(messageId);
    if (!stream) {
      const body = bubble.querySelector(".message-body");
      stream = { points: codePoints(body.dataset.text ?? ""), body, frame: 0, resuming: false };
      this.streams.set(messageId, stream);
    }
    return stream;
  }

  onDelta(event) {
    if (event.sessionId !== this.sessionId) return;
    const bubble = document.getElementById(`m-${event.messageId}`);
    if (!bubble || bubble.dataset.status !== STREAMING) return;
    const stream = this.stream(bubble);
    const have = stream.points.length;
    // ``offset`` is how much of the reply came before this delta: what this tab already
    // has is skipped, and a gap (deltas missed while away) asks for the text so far.
    if (event.offset > have) {
      if (!stream.resuming) this.resume(event.messageId);
      stream.resuming = true;
      return;
    }
    stream.resuming = false;
    const fresh = codePoints(event.content).slice(have - event.offset);
    if (!fresh.length) return;
    stream.points.push(...fresh);
    if (!stream.frame) stream.frame = requestAnimationFrame(() => this.renderStream(stream));
  }

  renderStream(stream) {
    stream.frame = 0;
    const follow = this.nearBottom();
    const text = stream.points.join("");
    if (this.renderMarkdown) {
      stream.body.replaceChildren(this.renderMarkdown(text));
      makeScrollable(stream.body);
    } else {
      stream.body.textContent = text;
    }
    stream.body.dataset.text = text;
    if (follow) this.scrollToBottom();
  }

  onReply(message) {
    if (message.sessionId !== this.sessionId) return;
    const bubble = document.getElementById(`m-${message.messageId}`);
    if (!bubble) return;
    const stream = this.streams.get(message.messageId);
    if (stream) cancelAnimationFrame(stream.frame);
    this.streams.delete(message.messageId);
    const follow = this.nearBottom();
    // The server's own render (highlighted, nh3-sanitized) replaces the streamed one.
    const replacement = fragment(message.bubbleHtml);
    const fresh = replacement.firstElementChild;
    bubble.replaceWith(replacement);
    enhanceCodeBlocks(fresh);
    labelModels(fresh);
    this.applySiblings(fresh, message.siblingIds);
    this.updateComposer();
    if (follow) this.scrollToBottom();
  }

  onTitle(event) {
    const item = this.sessionItem(event.sessionId);
    if (item) {
      item.querySelector(".session-link").textContent = event.title;
      item.querySelector(".session-menu-button").setAttribute("aria-label", t("actionsFor", { title: event.title }));
    }
    if (event.sessionId === this.sessionId) {
      this.el.title.textContent = event.title;
      document.title = `${event.title} · Chatbot`;
    }
  }

  onSessionDeleted(event) {
    this.sessionItem(event.sessionId)?.remove();
    // Deleted in another tab: leave it. Deleted here: the form's answer is already coming,
    // with its confirmation.
    if (event.sessionId === this.sessionId && !this.deleting) location.assign(this.chatUrl);
  }

  onError(event) {
    this.refocus = null;
    this.sentModels.delete(event.requestId);
    this.releaseChips(event.requestId);
    if (this.reopenEdit(event.requestId)) {
      this.showError(event.detail, "chat");
      this.updateComposer();
      return;
    }
    const text = event.requestId ? this.pending.get(event.requestId) : undefined;
    if (text !== undefined) {
      this.pending.delete(event.requestId);
      // The message was not taken: give it back so nothing typed is lost.
      if (!this.el.input.value) this.el.input.value = text;
      this.autogrow();
    }
    this.showError(event.detail, "chat");
    this.updateComposer();
  }

  // --- Sidebar -----------------------------------------------------------------------

  sessionItem(sessionId) {
    return this.el.lists.querySelector(`[data-session-id="${CSS.escape(sessionId)}"]`);
  }

  upsertSessionItem(sessionId, html) {
    document.getElementById("sessions-empty")?.remove();
    const item = this.sessionItem(sessionId) ?? fragment(html).firstElementChild;
    // A pinned conversation stays in its group, at the top.
    (item.closest(".session-list") ?? this.el.sessions).prepend(item);
    this.markCurrent();
  }

  openSession(sessionId) {
    this.sessionId = sessionId;
    this.app.dataset.sessionId = sessionId;
    history.pushState({}, "", `${this.chatUrl}c/${sessionId}/`);
    this.markCurrent();
    this.savedInstructions = "";
    this.el.instructionsButton.hidden = false;
  }

  showConversationModel(modelId) {
    const shown = this.el.conversationModel;
    shown.querySelector(".model-name").textContent = MODEL_LABELS[modelId] ?? modelId;
    shown.hidden = false;
  }

  // --- The conversation's own instructions (its system prompt, after the user's) ------

  openInstructions() {
    if (!this.sessionId) return;
    this.el.instructions.value = this.savedInstructions;
    this.setInstructionsError("");
    this.countInstructions();
    this.el.instructionsDialog.showModal();
    this.el.instructions.focus();
  }

  // Characters as the server counts them (code points), over the limit in the error colour;
  // the server still decides, and says why.
  countInstructions() {
    const max = Number(this.el.instructionsForm.dataset.maxChars);
    const count = codePoints(this.el.instructions.value).length;
    const number = new Intl.NumberFormat(document.documentElement.lang || undefined);
    this.el.instructionsCount.textContent = t("characterCount", { count: number.format(count), limit: number.format(max) });
    this.el.instructionsCount.classList.toggle("over-limit", count > max);
  }

  setInstructionsError(detail) {
    const { instructions, instructionsError } = this.el;
    instructionsError.textContent = detail;
    instructionsError.hidden = !detail;
    if (detail) instructions.setAttribute("aria-invalid", "true");
    else instructions.removeAttribute("aria-invalid");
  }

  async saveInstructions() {
    const { instructionsForm: form, instructions, instructionsDialog: dialog } = this.el;
    const save = form.querySelector("[type=submit]");
    if (save.disabled || !this.sessionId) return;
    save.disabled = true;
    const text = instructions.value;
    let answer = {};
    let ok = false;
    try {
      const response = await fetch(`${form.dataset.url}/${encodeURIComponent(this.sessionId)}`, {
        method: "PATCH",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
        body: JSON.stringify({ instructions: text }),
      });
      ok = response.ok;
      answer = await response.json().catch(() => ({}));
    } catch {
      answer = {};
    }
    save.disabled = false;
    if (!ok) {
      // The text stays as typed, to be shortened or fixed.
      this.setInstructionsError(answer.detail || t("instructionsFailed"));
      instructions.focus();
      return;
    }
    this.savedInstructions = answer.instructions ?? text;
    dialog.close();
    document.getElementById("announcer").textContent = t("instructionsSaved");
  }

  bindInstructions() {
    const { instructionsButton: button, instructionsDialog: dialog, instructionsForm: form, instructions } = this.el;
    button.addEventListener("click", () => this.openInstructions());
    instructions.addEventListener("input", () => this.countInstructions());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveInstructions();
    });
    // Saved, cancelled or closed with Escape: the focus goes back where the dialog opened.
    dialog.addEventListener("close", () => button.focus());
  }

  markCurrent() {
    for (const link of this.el.lists.querySelectorAll(".session-link")) {
      const current = link.closest(".session-item").dataset.sessionId === this.sessionId;
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  async loadMoreSessions() {
    const button = this.el.moreSessions;
    button.disabled = true;
    const url = `${button.dataset.url}&after=${encodeURIComponent(button.dataset.next)}`;
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      this.showError(t("moreConversationsFailed"), "chat");
      button.disabled = false;
      return;
    }
    const page = await response.json();
    this.el.sessions.append(fragment(page.html));
    this.markCurrent();
    if (page.next) {
      button.dataset.next = page.next;
      button.disabled = false;
    } else {
      button.remove();
      this.el.moreSessions = null;
    }
  }

  openDialog(dialog, link) {
    const item = link.closest(".session-item");
    const title = item.querySelector(".session-link").textContent.trim();
    const form = dialog.querySelector("form");
    form.action = link.getAttribute("href");
    const input = form.querySelector("input[name=title]");
    if (input) input.value = title;
    const name = dialog.querySelector("#delete-dialog-name");
    if (name) name.textContent = title;
    dialog.showModal();
    (input ?? dialog.querySelector("[data-close-dialog]")).focus();
  }

  // --- Messages ----------------------------------------------------------------------

  nearBottom() {
    const s = this.el.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.el.scroller.scrollTop = this.el.scroller.scrollHeight;
  }

  async loadOlder() {
    const button = this.el.older;
    if (!button || this.loadingOlder) return;
    this.loadingOlder = true;
    const response = await fetch(`${this.messagesUrl()}?before=${button.dataset.before}`, {
      headers: { Accept: "application/json" },
    });
    this.loadingOlder = false;
    if (!response.ok) {
      this.showError(t("olderMessagesFailed"), "chat");
      return;
    }
    const page = await response.json();
    const scroller = this.el.scroller;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const older = fragment(page.html);
    enhanceCodeBlocks(older);
    labelModels(older);
    this.el.messages.prepend(older);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    this.setOlder(page.hasMore, page.before);
  }

  streamingReply() {
    return this.el.messages.querySelector(`.message[data-status="${STREAMING}"]`);
  }

  // --- Composer ----------------------------------------------------------------------

  autogrow() {
    const input = this.el.input;
    input.style.height = "auto";
    input.style.height = `${input.scrollHeight + 2}px`;
  }

  updateComposer() {
    const streaming = Boolean(this.streamingReply());
    const empty = !this.el.input.value.trim();
    this.el.send.hidden = streaming;
    this.el.stop.hidden = !streaming;
    const blocked = streaming || this.suspended || this.ended;
    // A send waits for its files: they go with it by id once stored.
    this.el.send.disabled = empty || blocked || this.uploading();
    this.el.attach.disabled = this.suspended || this.ended;
    for (const button of this.el.messages.querySelectorAll("[data-action=regenerate], [data-action=retry], [data-action=edit]")) {
      button.disabled = blocked;
    }
    for (const editor of this.el.messages.querySelectorAll(".message-editor:not([data-request-id])")) {
      editor.querySelector("[type=submit]").disabled = blocked;
    }
  }

  // A new chat starts with the model last chosen here; a conversation shows its own.
  restoreModel() {
    const picker = this.el.model;
    if (!picker || this.sessionId) return;
    const last = localStorage.getItem(MODEL_KEY);
    if ([...picker.options].some((option) => option.value === last)) picker.value = last;
  }

  submit() {
    const text = this.el.input.value;
    if (!text.trim() || this.suspended || this.ended || this.streamingReply()) return;
    if (this.uploading()) return;
    const id = requestId();
    const message = { type: "send", text, requestId: id };
    if (this.sessionId) message.sessionId = this.sessionId;
    const attachments = this.takeChips(id);
    if (attachments.length) message.attachments = attachments;
    if (this.el.model) {
      // The conversation switches to the model shown from this turn on.
      message.model = this.el.model.value;
      localStorage.setItem(MODEL_KEY, message.model);
      this.sentModels.set(id, message.model);
    }
    this.pending.set(id, text);
    this.post(message);
    this.el.input.value = "";
    this.autogrow();
    this.updateComposer();
  }

  // --- Drawer (phones) and per-conversation menus -----------------------------------

  drawerOpen() {
    return this.el.sidebar.classList.contains("open");
  }

  setDrawer(open) {
    const wasOpen = this.drawerOpen();
    this.el.sidebar.classList.toggle("open", open);
    this.el.backdrop.hidden = !open;
    this.el.toggle.setAttribute("aria-expanded", String(open));
    if (open) this.el.closeSidebar.focus();
    else if (wasOpen) this.el.toggle.focus();
  }

  toggleMenu(button, open) {
    this.closeMenus(button);
    const menu = button.nextElementSibling;
    menu.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("[role=menuitem]").focus();
  }

  closeMenus(except) {
    for (const button of this.el.lists.querySelectorAll('.session-menu-button[aria-expanded="true"]')) {
      if (button === except) continue;
      button.setAttribute("aria-expanded", "false");
      button.nextElementSibling.hidden = true;
    }
  }

  menuKeys(event) {
    const menu = event.target.closest(".session-menu");
    if (!menu) return;
    const items = [...menu.querySelectorAll("[role=menuitem]")];
    const index = items.indexOf(event.target);
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      event.preventDefault();
      items[(index + moves[event.key] + items.length) % items.length].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      const button = menu.previousElementSibling;
      if (event.key === "Escape") event.preventDefault();
      this.toggleMenu(button, false);
      if (event.key === "Escape") button.focus();
    }
  }

  showError(detail, kind) {
    this.el.error.textContent = detail;
    this.el.error.dataset.kind = kind;
    this.el.error.hidden = false;
  }

  hideError() {
    this.el.error.hidden = true;
    this.el.error.textContent = "";
    delete this.el.error.dataset.kind;
  }

  bind() {
    const { input, composer, stop, messages, lists, scroller } = this.el;
    this.bindFiles();
    this.bindInstructions();
    input.addEventListener("input", () => {
      this.autogrow();
      this.updateComposer();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    stop.addEventListener("click", () => {
      const reply = this.streamingReply();
      if (reply) this.post({ type: "stop", messageId: reply.dataset.messageId });
    });
    messages.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      if (!button || !this.sessionId) return;
      const action = button.dataset.action;
      if (action === "switch-branch") this.switchBranch(button);
      else if (action === "edit") this.startEdit(button.closest(".message"));
      else if (action === "cancel-edit") this.cancelEdit(button.closest(".message-editor"));
      else if (action === "copy-message") this.copyMessage(button);
      else if (action === "regenerate" || action === "retry") {
        this.post({ type: action, sessionId: this.sessionId, requestId: requestId() });
      }
    });
    messages.addEventListener("submit", (event) => {
      const editor = event.target.closest(".message-editor");
      if (!editor) return;
      event.preventDefault();
      this.submitEdit(editor);
    });
    messages.addEventListener("keydown", (event) => {
      const editor = event.target.closest(".message-editor");
      if (!editor || event.isComposing) return;
      if (event.key === "Escape" && !editor.dataset.requestId) {
        event.preventDefault();
        this.cancelEdit(editor);
      } else if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.submitEdit(editor);
      }
    });
    lists.addEventListener("click", (event) => {
      const menuButton = event.target.closest(".session-menu-button");
      if (menuButton) {
        this.toggleMenu(menuButton, menuButton.getAttribute("aria-expanded") !== "true");
        return;
      }
      const link = event.target.closest("[data-action=rename], [data-action=delete]");
      if (!link) return;
      event.preventDefault();
      this.closeMenus();
      const dialog = link.dataset.action === "rename" ? this.el.renameDialog : this.el.deleteDialog;
      this.openDialog(dialog, link);
    });
    lists.addEventListener("keydown", (event) => this.menuKeys(event));
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".session-item")) this.closeMenus();
    });
    this.el.deleteDialog.querySelector("form").addEventListener("submit", () => { this.deleting = true; });
    for (const button of document.querySelectorAll("[data-close-dialog]")) {
      button.addEventListener("click", () => button.closest("dialog").close());
    }
    this.el.moreSessions?.addEventListener("click", () => this.loadMoreSessions());
    scroller.addEventListener("click", (event) => {
      if (event.target.closest("#load-older")) this.loadOlder();
    });
    scroller.addEventListener("scroll", () => {
      if (scroller.scrollTop < NEAR_TOP_PX) this.loadOlder();
    });
    this.el.toggle.addEventListener("click", () => this.setDrawer(!this.drawerOpen()));
    this.el.closeSidebar.addEventListener("click", () => this.setDrawer(false));
    // The dimmed page takes the tap that closes the drawer, so nothing below gets it.
    this.el.backdrop.addEventListener("click", () => this.setDrawer(false));
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      if (this.drawerOpen()) this.setDrawer(false);
    });
    window.addEventListener("popstate", () => location.reload());
    document.getElementById("show-shortcuts").addEventListener("click", () => this.showShortcuts());
    this.bindSingleKeysSwitch();
    document.addEventListener("keydown", (event) => this.shortcut(event));
  }

  // --- Keyboard shortcuts (listed in #shortcuts-dialog) ------------------------------

  showShortcuts() {
    const dialog = document.getElementById("shortcuts-dialog");
    if (!dialog.open) dialog.showModal();
  }

  // Single-key shortcuts can be turned off (WCAG 2.1.4), for this browser.
  bindSingleKeysSwitch() {
    const box = document.getElementById("single-key-shortcuts");
    box.checked = singleKeysOn();
    box.addEventListener("change", () => {
      if (box.checked) localStorage.removeItem(SINGLE_KEYS_KEY);
      else localStorage.setItem(SINGLE_KEYS_KEY, "off");
    });
  }

  shortcut(event) {
    if (event.defaultPrevented || event.isComposing) return;
    const target = event.target;
    // Single keys never leave a field, a dialog or a menu (nor a screen reader's own keys,
    // which it keeps to itself): they work only on the page itself.
    const typing = target.closest("input, textarea, select, [contenteditable], dialog, [role=menu]");
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    const actions = [
      [!typing && event.key === "?" && !ctrl && singleKeysOn(), () => this.showShortcuts()],
      [ctrl && !event.shiftKey && key === "/", () => this.showShortcuts()],
      [ctrl && event.shiftKey && key === "o", () => location.assign(this.chatUrl)],
      [ctrl && !event.shiftKey && key === "k", () => document.getElementById("search").focus()],
      [event.shiftKey && !ctrl && event.key === "Escape", () => this.el.input.focus()],
      [!event.shiftKey && !ctrl && event.key === "Escape" && Boolean(this.streamingReply())
        && !target.closest("dialog") && !this.drawerOpen(),
        () => this.el.stop.click()],
      [target === this.el.input && event.key === "ArrowUp" && !ctrl && !event.shiftKey && !this.el.input.value,
        () => this.editLastMessage()],
      [ctrl && event.shiftKey && key === "c", () => this.copyLastReply()],
    ];
    const match = actions.find(([when]) => when);
    if (!match) return;
    event.preventDefault();
    match[1]();
  }

  // The last question opens in its own editor, as its Edit button does; Escape there
  // cancels and brings the focus back to the composer.
  editLastMessage() {
    const buttons = this.el.messages.querySelectorAll(".message-user [data-action=edit]");
    const last = buttons[buttons.length - 1];
    if (!last || last.disabled || !this.sessionId) return;
    this.startEdit(last.closest(".message"), { returnFocus: this.el.input });
  }

  copyLastReply() {
    const replies = this.el.messages.querySelectorAll(".message-assistant .message-body");
    const last = replies[replies.length - 1];
    if (!last || !navigator.clipboard) return;
    const announce = (text) => { document.getElementById("announcer").textContent = text; };
    navigator.clipboard.writeText(last.innerText).then(
      () => announce(t("replyCopied")), () => announce(t("replyCopyFailed")));
  }
}

enhanceCodeBlocks(document);
const app = document.getElementById("chat-app");
if (app) new Chat(app);
