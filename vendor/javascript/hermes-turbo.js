// <turbo-cable-stream-source> (what turbo-rails' turbo_stream_from renders) over the page's one
// Hermes socket instead of Action Cable: import map entry "hermes/turbo", loaded by
// hermes_connect_tag. It behaves as turbo-rails' own element does:
// - connected: Turbo.connectStreamSource(this), then the stream named by its
//   signed-stream-name attribute is held on window.Hermes (the page's client, or the stub the
//   connect tag defines first); each message is dispatched on the element as
//   MessageEvent("message", {data: html}), which Turbo renders;
// - the `connected` attribute is set while the stream is subscribed on the socket, and
//   removed when the socket closes, the name is refused, or the element leaves;
// - disconnected: Turbo.disconnectStreamSource(this), and the stream is let go: the client
//   tells the server a second later unless the next page holds it again (a Turbo visit between
//   two pages showing one board keeps its subscription);
// - channel / signed-stream-name changed while connected: subscribed again.
// Unlike turbo-rails it subscribes nothing while Turbo shows a cached preview
// (<html data-turbo-preview>): the page that follows does. It is defined only if no other
// element is (load @hotwired/turbo, not @hotwired/turbo-rails, whose JS defines it too).
// Turbo comes from window.Turbo (@hotwired/turbo 7.2 and 8 set it); until it is there the
// element waits. Channels with server-side actions are not supported: only the signed name
// is used.

const PREVIEW = "data-turbo-preview";

let turboWait = null;

// window.Turbo, once @hotwired/turbo has run: at once, or when a page event or a slowing poll
// (at most once a second) finds it.
function turboReady() {
  if (window.Turbo) return Promise.resolve(window.Turbo);
  turboWait ||= new Promise((resolve) => {
    let delay = 20;
    let timer = null;
    const check = () => {
      if (!window.Turbo) return false;
      clearTimeout(timer);
      for (const type of ["turbo:load", "DOMContentLoaded", "load"]) removeEventListener(type, check);
      resolve(window.Turbo);
      return true;
    };
    const poll = () => {
      if (check()) return;
      delay = Math.min(1000, delay * 2);
      timer = setTimeout(poll, delay);
    };
    for (const type of ["turbo:load", "DOMContentLoaded", "load"]) addEventListener(type, check);
    timer = setTimeout(poll, delay);
  });
  return turboWait;
}

// window.Hermes: the connect tag's stub or the client; on a page without the tag, once
// something installs a client (hermes.js `install` dispatches "hermes:ready").
function hermesReady() {
  if (window.Hermes) return Promise.resolve(window.Hermes);
  return new Promise((resolve) => addEventListener("hermes:ready", () => resolve(window.Hermes), { once: true }));
}

// Resolves when <html> stops being a Turbo preview.
function previewOver() {
  return new Promise((resolve) => {
    const html = document.documentElement;
    const observer = new MutationObserver(() => {
      if (html.hasAttribute(PREVIEW)) return;
      observer.disconnect();
      resolve();
    });
    observer.observe(html, { attributes: true, attributeFilter: [PREVIEW] });
  });
}

class TurboCableStreamSourceElement extends HTMLElement {
  static observedAttributes = ["channel", "signed-stream-name"];

  // Bumped on every connect and disconnect: what an earlier connect still awaits is dropped.
  #generation = 0;
  #active = false;
  #turbo = null;
  #unsubscribe = null;

  connectedCallback() {
    this.#begin();
  }

  disconnectedCallback() {
    this.#end();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (!this.#active || oldValue === newValue) return;
    this.#end();
    this.#begin();
  }

  async #begin() {
    const generation = ++this.#generation;
    this.#active = true;
    const current = () => generation === this.#generation && this.isConnected;
    while (document.documentElement.hasAttribute(PREVIEW)) {
      await previewOver();
      if (!current()) return;
    }
    const turbo = await turboReady();
    if (!current()) return;
    turbo.connectStreamSource(this);
    this.#turbo = turbo;
    const hermes = await hermesReady();
    if (!current()) return;
    const name = this.getAttribute("signed-stream-name");
    if (!name) {
      console.error("hermes/turbo: <turbo-cable-stream-source> without a signed-stream-name attribute");
      return;
    }
    this.#unsubscribe = hermes.stream(name, (data) => this.dispatchMessageEvent(data), {
      connected: () => this.subscriptionConnected(),
      disconnected: () => this.subscriptionDisconnected(),
      rejected: ({ error }) => {
        this.subscriptionDisconnected();
        console.error(`hermes/turbo: the stream of ${this.id ? `#${this.id}` : "a turbo-cable-stream-source"} was refused: ${error}`);
      },
    });
  }

  #end() {
    this.#generation += 1;
    this.#active = false;
    if (this.#turbo) this.#turbo.disconnectStreamSource(this);
    this.#turbo = null;
    if (this.#unsubscribe) this.#unsubscribe();
    this.#unsubscribe = null;
    this.subscriptionDisconnected();
  }

  dispatchMessageEvent(data) {
    return this.dispatchEvent(new MessageEvent("message", { data }));
  }

  subscriptionConnected() {
    this.setAttribute("connected", "");
  }

  subscriptionDisconnected() {
    this.removeAttribute("connected");
  }
}

if (customElements.get("turbo-cable-stream-source") === undefined) {
  customElements.define("turbo-cable-stream-source", TurboCableStreamSourceElement);
}
