// The workflow editor's entry: mounted on #flowdeck-editor by the editor page.
import { createRoot } from "react-dom/client";

const mount = document.getElementById("flowdeck-editor");
if (mount) {
  createRoot(mount).render(<p>The editor is being built.</p>);
}
