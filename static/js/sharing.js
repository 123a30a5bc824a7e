// Sharing, exporting, organizing and rating conversations in the browser: the Share dialog
// and the Pin and Archive items of each conversation's menu, thumbs under replies, and the
// shared links and the import of Settings. Export items are plain download links.
// The words come translated from the page (#chat-strings), as for chat.js.

const STRINGS = JSON.parse(document.getElementById("chat-strings")?.textContent ?? "{}");
function t(key, values = {}) {
  return (STRINGS[key] ?? key).replace(/%\((\w+)\)s/g, (_match, name) => values[name] ?? "");
}

function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

// One call of the REST API with the session's cookie: the JSON answer, or an Error whose
// message is the server's ``detail``.
async function api(method, url, body) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error(t("actionFailed"));
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.detail || t("actionFailed"));
  return answer;
}

function announce(text) {
  const announcer = document.getElementById("announcer");
  if (announcer) announcer.textContent = text;
}

function showError(text) {
  const banner = document.getElementById("error-banner");
  if (!banner) {
    announce(text);
    return;
  }
  banner.textContent = text;
  banner.dataset.kind = "chat";
  banner.hidden = false;
}

// --- The conversation's menu ---------------------------------------------------------

function closeMenu(item) {
  const button = item.querySelector(".session-menu-button");
  button.setAttribute("aria-expanded", "false");
  item.querySelector(".session-menu").hidden = true;
  return button;
}

// Unpinned, a conversation goes back among the others in order of activity.
function placeByActivity(item, list) {
  const updated = Number(item.dataset.updated);
  const after = [...list.children].find((other) => Number(other.dataset.updated) < updated);
  list.insertBefore(item, after ?? null);
}

function refreshPinnedGroup() {
  const group = document.getElementById("pinned-group");
  if (!group) return;
  const empty = !document.getElementById("pinned-list").children.length;
  group.hidden = empty;
  const others = document.getElementById("session-list");
  if (empty) others.removeAttribute("aria-labelledby");
  else others.setAttribute("aria-labelledby", "session-list-label");
}

async function togglePin(item, control) {
  const pin = control.dataset.on !== "true";
  await api(pin ? "PUT" : "DELETE", control.dataset.url);
  control.dataset.on = String(pin);
  control.textContent = pin ? control.dataset.labelOn : control.dataset.labelOff;
  const button = closeMenu(item);
  if (pin) document.getElementById("pinned-list").prepend(item);
  else placeByActivity(item, document.getElementById("session-list"));
  refreshPinnedGroup();
  button.focus();
  announce(t(pin ? "pinned" : "unpinned"));
}

async function toggleArchive(item, control) {
  const archive = control.dataset.on !== "true";
  await api(archive ? "PUT" : "DELETE", control.dataset.url);
  closeMenu(item);
  // Either way it leaves the list shown (the others, or the archived ones).
  item.remove();
  refreshPinnedGroup();
  document.getElementById("new-chat")?.focus();
  announce(t(archive ? "archived" : "unarchived"));
}

const share = {
  dialog: document.getElementById("share-dialog"),
  url: "",

  open(control) {
    const { dialog } = this;
    this.url = control.dataset.url;
    closeMenu(control.closest(".session-item"));
    this.show("", false);
    dialog.querySelector("#share-create").textContent = t("createLink");
    dialog.showModal();
    dialog.querySelector("#share-create").focus();
  },

  show(link, shared) {
    const { dialog } = this;
    dialog.querySelector("#share-url").value = link;
    dialog.querySelector("#share-link").hidden = !shared;
    dialog.querySelector("#share-copy").hidden = !shared;
    dialog.querySelector("#share-revoke").hidden = !shared;
  },

  status(text) {
    this.dialog.querySelector("#share-status").textContent = text;
  },

  async create() {
    try {
      const answer = await api("POST", this.url);
      this.show(answer.url, true);
      this.dialog.querySelector("#share-create").textContent = t("updateLink");
      this.status(t("linkReady"));
      this.dialog.querySelector("#share-url").select();
      this.dialog.querySelector("#share-copy").focus();
    } catch (error) {
      this.status(error.message);
    }
  },

  async copy() {
    const link = this.dialog.querySelector("#share-url").value;
    try {
      await navigator.clipboard.writeText(link);
      this.status(t("linkCopied"));
    } catch {
      this.status(t("linkCopyFailed"));
    }
  },

  async revoke() {
    try {
      await api("DELETE", this.url);
      this.show("", false);
      this.dialog.querySelector("#share-create").textContent = t("createLink");
      this.status(t("linkRevoked"));
      this.dialog.querySelector("#share-create").focus();
    } catch (error) {
      this.status(error.message);
    }
  },

  bind() {
    if (!this.dialog) return;
    this.dialog.querySelector("#share-create").addEventListener("click", () => this.create());
    this.dialog.querySelector("#share-copy").addEventListener("click", () => this.copy());
    this.dialog.querySelector("#share-revoke").addEventListener("click", () => this.revoke());
    this.dialog.addEventListener("close", () => this.status(""));
  },
};

document.getElementById("session-lists")?.addEventListener("click", (event) => {
  const control = event.target.closest(
    ".session-menu [data-action=share], .session-menu [data-action=pin], .session-menu [data-action=archive]",
  );
  if (!control) return;
  const item = control.closest(".session-item");
  const action = control.dataset.action;
  if (action === "share") {
    share.open(control);
    return;
  }
  const run = action === "pin" ? togglePin : toggleArchive;
  run(item, control).catch((error) => showError(error.message));
});
share.bind();

// --- Thumbs under replies --------------------------------------------------------------

async function rate(button) {
  const group = button.closest(".feedback");
  const form = group.parentElement.querySelector(".feedback-comment");
  const wasPressed = button.getAttribute("aria-pressed") === "true";
  try {
    if (wasPressed) await api("DELETE", group.dataset.url);
    else await api("PUT", group.dataset.url, { rating: button.dataset.rating });
  } catch (error) {
    showError(error.message);
    return;
  }
  for (const other of group.querySelectorAll(".feedback-button")) {
    other.setAttribute("aria-pressed", String(other === button && !wasPressed));
  }
  // A thumbs-down may say what was wrong.
  form.hidden = wasPressed || button.dataset.rating !== "down";
  if (!form.hidden) form.querySelector("textarea").focus();
  announce(t(wasPressed ? "ratingRemoved" : "ratingSaved"));
}

async function sendComment(form) {
  const group = form.parentElement.querySelector(".feedback");
  try {
    await api("PUT", group.dataset.url, { rating: "down", comment: form.elements.comment.value });
  } catch (error) {
    showError(error.message);
    return;
  }
  form.hidden = true;
  group.querySelector("[data-rating=down]").focus();
  announce(t("feedbackSent"));
}

const messages = document.getElementById("messages");
messages?.addEventListener("click", (event) => {
  const button = event.target.closest(".feedback-button");
  if (button) rate(button);
});
messages?.addEventListener("submit", (event) => {
  const form = event.target.closest(".feedback-comment");
  if (!form) return;
  event.preventDefault();
  sendComment(form);
});

// --- Settings: shared links and import ---------------------------------------------------

document.getElementById("shared-links")?.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-revoke-share]");
  if (!button) return;
  const status = document.getElementById("shared-links-status");
  try {
    await api("DELETE", button.dataset.revokeShare);
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  button.closest("tr").remove();
  status.textContent = t("linkRevoked");
});

// XMLHttpRequest, not fetch: it reports the upload's progress.
function upload(form) {
  const progress = document.getElementById("import-progress");
  const status = document.getElementById("import-status");
  const errors = document.getElementById("import-errors");
  const submit = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.setRequestHeader("X-CSRFToken", csrfToken());
  request.setRequestHeader("Accept", "application/json");
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = event.loaded / event.total;
  });
  // Uploaded: the server reads it now, for as long as it takes (no measure of that).
  request.upload.addEventListener("load", () => {
    progress.removeAttribute("value");
    status.textContent = t("importProcessing");
  });
  request.addEventListener("loadend", () => {
    progress.hidden = true;
    submit.disabled = false;
    form.setAttribute("aria-busy", "false");
    let answer = {};
    try {
      answer = JSON.parse(request.responseText);
    } catch {
      answer = {};
    }
    errors.replaceChildren();
    if (request.status !== 200) {
      status.textContent = answer.detail || t("importFailed");
      return;
    }
    status.textContent = t("importDone", { imported: answer.imported, skipped: answer.skipped });
    for (const problem of answer.errors ?? []) {
      const line = document.createElement("li");
      line.textContent = problem.detail ?? JSON.stringify(problem);
      errors.append(line);
    }
  });
  progress.value = 0;
  progress.hidden = false;
  submit.disabled = true;
  form.setAttribute("aria-busy", "true");
  errors.replaceChildren();
  status.textContent = t("importUploading");
  request.send(new FormData(form));
}

document.getElementById("import-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  upload(event.target);
});
