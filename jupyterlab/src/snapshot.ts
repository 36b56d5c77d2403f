// The explorer without a kernel. Its output bundle (metricsense.widgets.explorer) holds the widget
// view, the snapshot as text/html, and EXPLORER_MIME. JupyterLab shows one MIME type per output,
// the registered one of lowest rank: ipywidgets' widget view (rank -10) wins over text/html, and
// when its model is in no kernel (a notebook reopened, its kernel new or absent) it draws "Error
// displaying widget: model not found" or "Loading widget..." for good. EXPLORER_MIME ranks before
// it: this renderer asks the output area's own widget-view renderer for the live view and shows
// the snapshot until (unless) that view is drawn.
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

export const EXPLORER_MIME = 'application/vnd.metricsense.explorer+json';
export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';
/** Before ipywidgets' widget view (-10). */
export const EXPLORER_RANK = -20;
/** How long a live view may take to come before the snapshot shows (none flashes when it comes). */
const SNAPSHOT_AFTER_MS = 400;
/** How long to wait for the output area's widget manager (its kernel starting) before giving up. */
const MANAGER_WAIT_MS = 60000;

const delay = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** The registry of the output area a widget sits in (a notebook's or a console's). */
function nearestRendermime(widget: Widget): IRenderMimeRegistry | null {
  for (let w = widget.parent; w; w = w.parent) {
    const rm = (w as unknown as { rendermime?: IRenderMimeRegistry }).rendermime;
    if (rm && typeof rm.getFactory === 'function' && typeof rm.createRenderer === 'function') {
      return rm;
    }
  }
  return null;
}

export class ExplorerRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(
    options: IRenderMime.IRendererOptions,
    private readonly app: IRenderMimeRegistry
  ) {
    super();
    this.addClass('msense-explorer-output');
    this._show('none');
    // NOTE: a control of the live explorer that had the focus and is then hidden (its tab left for
    // another: the threshold's read-out after Enter) or removed leaves the focus on the page's
    // body. JupyterLab's main area then takes the next mousedown anywhere in the notebook to
    // focus the notebook again (its capture handler, before the explorer sees the event), and
    // the restyle that follows cost 30-55 ms before a box's click was even dispatched. The focus
    // stays in the explorer instead (its output; not in the Tab order).
    this.node.tabIndex = -1;
    this.node.addEventListener('focusout', this._keepFocus);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const round = ++this._round;
    this._clear();
    if (typeof model.data['text/html'] === 'string') {
      const snapshot = this.app.createRenderer('text/html');
      snapshot.addClass('msense-explorer-snapshot');
      this.addWidget(snapshot);
      await snapshot.renderModel(model);
      if (round !== this._round || this.isDisposed) {
        return;
      }
    }
    this._timer = window.setTimeout(() => {
      this._timerFired = true;
      this._settle();
    }, SNAPSHOT_AFTER_MS);
    await delay(0); // the output area places its renderer after asking it to render
    if (round === this._round && !this.isDisposed) {
      // Not awaited: with no kernel it waits for a widget manager that may never come.
      void this._live(model, round);
    }
  }

  dispose(): void {
    this.node.removeEventListener('focusout', this._keepFocus);
    this._clear();
    super.dispose();
  }

  /** The live widget, drawn by the output area's widget-view renderer once it has a widget manager. */
  private async _live(model: IRenderMime.IMimeModel, round: number): Promise<void> {
    const rendermime = nearestRendermime(this);
    // NOTE: ipywidgets replaces a notebook's (or console's) widget-view factory, copied from the
    // application's when the notebook opened, by one holding the notebook's widget manager once
    // its kernel is ready. The application's own draws "Loading widget..." forever.
    const managed = () => {
      const factory = rendermime?.getFactory(WIDGET_VIEW_MIME);
      return !!factory && factory !== this.app.getFactory(WIDGET_VIEW_MIME);
    };
    const deadline = Date.now() + MANAGER_WAIT_MS;
    while (!managed()) {
      if (round !== this._round || this.isDisposed) {
        return;
      }
      if (Date.now() > deadline) {
        this._liveDone = true; // no widget manager came (no kernel, or no ipywidgets)
        this._settle();
        return;
      }
      await delay(250);
    }
    if (round !== this._round || this.isDisposed || !rendermime) {
      return;
    }
    const live = rendermime.createRenderer(WIDGET_VIEW_MIME);
    live.addClass('msense-explorer-live');
    this.addWidget(live);
    this._liveNode = live.node;
    // A drawn view is an element in the renderer's node; its messages ("Loading widget...",
    // "Error displaying widget: model not found") are text. A view can come later: ipywidgets
    // draws again when its manager has restored the kernel's widgets.
    this._observer = new MutationObserver(() => this._settle());
    this._observer.observe(live.node, { childList: true });
    try {
      await live.renderModel(model);
    } catch (reason) {
      console.warn('metricsense: the live explorer could not be drawn; the snapshot stays', reason);
    }
    if (round !== this._round || this.isDisposed) {
      return; // rendered again meanwhile: this round's renderer is gone
    }
    this._liveDone = true; // rendered: what it drew is final until ipywidgets draws again
    this._settle();
  }

  private _keepFocus = (event: FocusEvent): void => {
    const lost = event.target as Element;
    if (event.relatedTarget !== null || !this._liveNode || !this._liveNode.contains(lost)) {
      return; // the focus went somewhere, or left the snapshot
    }
    window.setTimeout(() => {
      const now = document.activeElement;
      const gone = !lost.isConnected || lost.getClientRects().length === 0;
      if (gone && (now === null || now === document.body) && this.node.isConnected && !this.isDisposed) {
        this.node.focus({ preventScroll: true });
      }
    }, 0);
  };

  private _settle(): void {
    if (this._liveNode && this._liveNode.children.length > 0) {
      this._show('live');
    } else if (this._liveDone || this._timerFired) {
      this._show('snapshot');
    }
  }

  private _show(what: 'none' | 'snapshot' | 'live'): void {
    this.node.dataset.msenseShown = what;
  }

  private _clear(): void {
    this._observer?.disconnect();
    this._observer = null;
    window.clearTimeout(this._timer);
    this._timer = -1;
    this._timerFired = false;
    this._liveDone = false;
    this._liveNode = null;
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    this._show('none');
  }

  private _round = 0;
  private _timer = -1;
  private _timerFired = false;
  private _liveDone = false;
  private _liveNode: HTMLElement | null = null;
  private _observer: MutationObserver | null = null;
}
