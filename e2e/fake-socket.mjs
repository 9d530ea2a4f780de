// A WebSocket the test plays the server for, handed to the client in place of the browser's:
// `sent` holds what the client sent (parsed, with the time it was sent), `open()` and
// `answer(frame)` are the server's side, `drop(code)` the server or the network ending it.
// `FakeSocket.all` lists every socket made, oldest first.
export class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  send(text) {
    this.sent.push({ at: Date.now(), ...JSON.parse(text) });
  }
  answer(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  // The server or the network ends it: the client sees a close event at once.
  drop(code = 1006) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }
  // The client ends it (the event still fires, later, as in a browser).
  close(code = 1000) {
    if (this.readyState === 3) return;
    this.readyState = 2;
    setTimeout(() => {
      this.readyState = 3;
      this.onclose?.({ code });
    }, 5);
  }
}
