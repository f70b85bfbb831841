// The /ws live feed: JSON events {type: "dashboard-data"|"alert"|"performance", data, dropped}.
// Reconnects with backoff until closed; onStatus gets "connecting", "live", "offline".

export function connectLive({ topics, onEvent, onStatus }) {
  let socket = null;
  let closed = false;
  let retry = 1000;
  let timer = null;

  function open() {
    if (closed) return;
    onStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/ws?topics=${encodeURIComponent(topics.join(","))}`);
    socket.addEventListener("message", (msg) => {
      let event;
      try {
        event = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      if (event && event.type === "hello") {
        retry = 1000;
        onStatus("live");
      } else if (event && typeof event.type === "string") {
        onEvent(event);
      }
    });
    socket.addEventListener("close", () => {
      socket = null;
      if (closed) return;
      onStatus("offline");
      timer = setTimeout(open, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket) socket.close(1000);
    },
  };
}
