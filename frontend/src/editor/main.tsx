// The workflow editor's entry: mounted on #flowdeck-editor by the editor page,
// which puts the workflow, its latest document and the projects in a
// json_script tag (#flowdeck-editor-data).
import { createRoot } from "react-dom/client";

import { Editor, type InitialData } from "./Editor";

const mount = document.getElementById("flowdeck-editor");
const data = document.getElementById("flowdeck-editor-data");
if (mount && data) {
  const initial = JSON.parse(data.textContent || "{}") as InitialData;
  createRoot(mount).render(<Editor initial={initial} />);
}
