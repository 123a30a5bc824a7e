// The chat page's behaviour: one WebSocket per tab, streaming replies, the sidebar and the
// composer. Loaded as a module on every page (CSP allows no inline script); pages without
// #chat-app only get the copy buttons on code blocks.

const WS_PATH = "/ws/chat/";
const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 80;
// Close codes of the server (conversations/events.py).
const SIGNED_OUT = 4401;
const ACCESS_ENDED = 4403;
const SESSION_CHECK_DELAY_MS = 1000;

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

function requestId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function enhanceCodeBlocks(root) {
  for (const pre of root.querySelectorAll(".md pre")) {
    if (pre.querySelector(".copy-code")) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button copy-code";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
    pre.append(button);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-code");
  if (!button) return;
  const code = button.closest("pre").querySelector("code");
  const text = code ? code.textContent : "";
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  };
  if (!navigator.clipboard) { done("Copy failed"); return; }
  navigator.clipboard.writeText(text).then(() => done("Copied"), () => done("Copy failed"));
});

class Chat {
  constructor(app) {
    this.app = app;
    this.sessionId = app.dataset.sessionId || null;
    this.chatUrl = app.dataset.chatUrl;
    this.suspended = app.dataset.suspended === "true";
    this.loginUrl = app.dataset.loginUrl;
    this.ended = false;
    this.checkingSession = false;
    this.pending = new Map();
    this.outbox = [];
    this.socket = null;
    this.connected = false;
    this.reconnectDelay = 500;
    this.loadingOlder = false;
    this.el = {
      sidebar: document.getElementById("sidebar"),
      sessions: document.getElementById("session-list"),
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
    };
    this.bind();
    this.connect();
    this.updateComposer();
    this.scrollToBottom();
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
      this.showError("Connection lost; reconnecting…", "connection");
      setTimeout(() => this.connect(), this.reconnectDelay);
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, 10000);
    });
  }

  signedOut() {
    this.ended = true;
    this.restorePending();
    const link = document.createElement("a");
    link.href = `${this.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
    link.textContent = "Sign in";
    this.showError("You have been signed out. ", "signed-out");
    this.el.error.append(link, " to keep chatting.");
    this.updateComposer();
  }

  endAccess(reason) {
    this.restorePending();
    if (reason === "suspended") {
      this.suspended = true;
      this.showError("Your chat access has been suspended. You can still read your conversations.", "ended");
    } else {
      this.ended = true;
      this.showError("Your account has been deactivated.", "ended");
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
      if (event.created) this.openSession(event.sessionId);
    }
    if (event.sessionId !== this.sessionId) return;
    document.getElementById("empty-state")?.remove();
    const follow = mine || this.nearBottom();
    const userBubble = document.getElementById(`m-${event.userMessage.messageId}`);
    if (event.regenerated && userBubble) {
      while (userBubble.nextElementSibling) userBubble.nextElementSibling.remove();
    } else if (!userBubble) {
      this.el.messages.append(fragment(event.userMessage.html));
    }
    if (event.reply && !document.getElementById(`m-${event.reply.messageId}`)) {
      this.el.messages.append(fragment(event.reply.html));
    }
    this.updateComposer();
    if (follow) this.scrollToBottom();
  }

  onDelta(event) {
    if (event.sessionId !== this.sessionId) return;
    const bubble = document.getElementById(`m-${event.messageId}`);
    if (!bubble || bubble.dataset.status !== "streaming") return;
    const follow = this.nearBottom();
    // Plain text while streaming; the sanitized HTML replaces it when the reply ends.
    bubble.querySelector(".message-body").append(document.createTextNode(event.content));
    if (follow) this.scrollToBottom();
  }

  onReply(message) {
    if (message.sessionId !== this.sessionId) return;
    const bubble = document.getElementById(`m-${message.messageId}`);
    if (!bubble) return;
    const follow = this.nearBottom();
    const replacement = fragment(message.bubbleHtml);
    const fresh = replacement.firstElementChild;
    bubble.replaceWith(replacement);
    enhanceCodeBlocks(fresh);
    this.updateComposer();
    if (follow) this.scrollToBottom();
  }

  onTitle(event) {
    const item = this.sessionItem(event.sessionId);
    if (item) {
      item.querySelector(".session-link").textContent = event.title;
      for (const hidden of item.querySelectorAll(".session-actions .visually-hidden")) {
        hidden.textContent = ` ${event.title}`;
      }
    }
    if (event.sessionId === this.sessionId) {
      this.el.title.textContent = event.title;
      document.title = `${event.title} · Chatbot`;
    }
  }

  onSessionDeleted(event) {
    this.sessionItem(event.sessionId)?.remove();
    if (event.sessionId === this.sessionId) location.assign(this.chatUrl);
  }

  onError(event) {
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
    return this.el.sessions.querySelector(`[data-session-id="${CSS.escape(sessionId)}"]`);
  }

  upsertSessionItem(sessionId, html) {
    document.getElementById("sessions-empty")?.remove();
    const item = this.sessionItem(sessionId) ?? fragment(html).firstElementChild;
    this.el.sessions.prepend(item);
    this.markCurrent();
  }

  openSession(sessionId) {
    this.sessionId = sessionId;
    this.app.dataset.sessionId = sessionId;
    history.pushState({}, "", `${this.chatUrl}c/${sessionId}/`);
    this.markCurrent();
  }

  markCurrent() {
    for (const link of this.el.sessions.querySelectorAll(".session-link")) {
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
      this.showError("Could not load more conversations.", "chat");
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
    const response = await fetch(`${button.dataset.url}?before=${button.dataset.before}`, {
      headers: { Accept: "application/json" },
    });
    this.loadingOlder = false;
    if (!response.ok) {
      this.showError("Could not load earlier messages.", "chat");
      return;
    }
    const page = await response.json();
    const scroller = this.el.scroller;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const older = fragment(page.html);
    enhanceCodeBlocks(older);
    this.el.messages.prepend(older);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    if (page.hasMore) {
      button.dataset.before = page.before;
    } else {
      button.remove();
      this.el.older = null;
    }
  }

  streamingReply() {
    return this.el.messages.querySelector('.message[data-status="streaming"]');
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
    this.el.send.disabled = empty || streaming || this.suspended || this.ended;
  }

  submit() {
    const text = this.el.input.value;
    if (!text.trim() || this.suspended || this.ended || this.streamingReply()) return;
    const id = requestId();
    const message = { type: "send", text, requestId: id };
    if (this.sessionId) message.sessionId = this.sessionId;
    this.pending.set(id, text);
    this.post(message);
    this.el.input.value = "";
    this.autogrow();
    this.updateComposer();
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
    const { input, composer, stop, messages, sessions, scroller } = this.el;
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
      const button = event.target.closest("[data-action=regenerate], [data-action=retry]");
      if (!button || !this.sessionId) return;
      this.post({ type: button.dataset.action, sessionId: this.sessionId, requestId: requestId() });
    });
    sessions.addEventListener("click", (event) => {
      const link = event.target.closest("[data-action=rename], [data-action=delete]");
      if (!link) return;
      event.preventDefault();
      const dialog = link.dataset.action === "rename" ? this.el.renameDialog : this.el.deleteDialog;
      this.openDialog(dialog, link);
    });
    for (const button of document.querySelectorAll("[data-close-dialog]")) {
      button.addEventListener("click", () => button.closest("dialog").close());
    }
    this.el.moreSessions?.addEventListener("click", () => this.loadMoreSessions());
    this.el.older?.addEventListener("click", () => this.loadOlder());
    scroller.addEventListener("scroll", () => {
      if (scroller.scrollTop < NEAR_TOP_PX) this.loadOlder();
    });
    this.el.toggle.addEventListener("click", () => {
      const open = this.el.sidebar.classList.toggle("open");
      this.el.toggle.setAttribute("aria-expanded", String(open));
    });
    window.addEventListener("popstate", () => location.reload());
  }
}

enhanceCodeBlocks(document);
const app = document.getElementById("chat-app");
if (app) new Chat(app);
