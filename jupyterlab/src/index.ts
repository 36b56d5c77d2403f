// metricsense in JupyterLab 4: the msense language (CodeMirror 6), the .msense file type, a
// "New KPI spec" launcher and File > New item, and `%%msense` cells highlighted as msense.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { ICellModel } from '@jupyterlab/cells';
import {
  IExtractedCode,
  IForeignCodeExtractor,
  ILSPCodeExtractorsManager,
  ILSPDocumentConnectionManager
} from '@jupyterlab/lsp';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { LanguageSupport } from '@codemirror/language';

import iconSvg from '../style/icon.svg';
import { msense } from './language';
import { EXPLORER_MIME, EXPLORER_RANK, ExplorerRenderer } from './snapshot';
import { STARTER } from './starter';

export const MIME = 'text/x-msense';
const NEW_SPEC = 'metricsense:new-spec';
/** A cell whose first line is this magic holds a spec (metricsense.magic). */
const CELL_MAGIC = /^%%msense\b/;

export const msenseIcon = new LabIcon({ name: 'metricsense:spec', svgstr: iconSvg });

const language: JupyterFrontEndPlugin<void> = {
  id: 'metricsense:language',
  description: 'The msense language, the .msense file type and the New KPI spec command.',
  autoStart: true,
  requires: [IEditorLanguageRegistry],
  optional: [ILauncher, IMainMenu, IDefaultFileBrowser, IEditorTracker],
  activate: (
    app: JupyterFrontEnd,
    languages: IEditorLanguageRegistry,
    launcher: ILauncher | null,
    mainMenu: IMainMenu | null,
    browser: IDefaultFileBrowser | null,
    editors: IEditorTracker | null
  ) => {
    // findBest() then finds it by name for ```msense fences in Markdown (editor and preview).
    languages.addLanguage({
      name: 'msense',
      displayName: 'msense (metricsense KPI spec)',
      alias: ['metricsense'],
      mime: MIME,
      extensions: ['msense'],
      load: async () => new LanguageSupport(msense)
    });
    app.docRegistry.addFileType({
      name: 'msense',
      displayName: 'KPI spec (msense)',
      extensions: ['.msense'],
      mimeTypes: [MIME],
      fileFormat: 'text',
      contentType: 'file',
      icon: msenseIcon
    });

    app.commands.addCommand(NEW_SPEC, {
      label: args => (args['isPalette'] ? 'New KPI spec (msense)' : 'KPI spec'),
      caption: 'A new .msense file holding the starter spec (as `msense init` writes it)',
      icon: args => (args['isPalette'] ? undefined : msenseIcon),
      execute: async args => {
        const cwd = (args['cwd'] as string) ?? browser?.model.path ?? '';
        const contents = app.serviceManager.contents;
        const model = await contents.newUntitled({ path: cwd, type: 'file', ext: '.msense' });
        await contents.save(model.path, { type: 'file', format: 'text', content: STARTER });
        return app.commands.execute('docmanager:open', { path: model.path, factory: 'Editor' });
      }
    });
    // The file editor's tab takes a file type's icon only for audio files: give specs theirs.
    editors?.widgetAdded.connect((_, widget) => {
      const mark = () => {
        if (widget.context.path.endsWith('.msense')) {
          widget.title.icon = msenseIcon;
        }
      };
      widget.context.pathChanged.connect(mark);
      mark();
    });

    launcher?.add({ command: NEW_SPEC, category: 'Other', rank: 10 });
    mainMenu?.fileMenu.newMenu.addGroup([{ command: NEW_SPEC }], 40);
  }
};

/**
 * Gives `%%msense` cells the msense language. The notebook sets every code cell's MIME type to
 * the kernel's language (again when the kernel's info arrives), so the cell's source and its MIME
 * type are both watched.
 */
const cells: JupyterFrontEndPlugin<void> = {
  id: 'metricsense:cell-magic',
  description: 'Highlights %%msense cells as msense.',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, languages: IEditorLanguageRegistry) => {
    // NOTE: jupyterlab-lsp's syntax highlighting switches a cell whose body is mostly msense (its
    // `%%msense` document) to msense without waiting for the language the notebook just gave it
    // (IPython's, loaded lazily when the kernel's info comes): that load then lands last and the
    // cell shows Python. Loading IPython's language early closes that window.
    void languages.getLanguage('text/x-ipython').catch(() => null);
    tracker.widgetAdded.connect((_, panel: NotebookPanel) => {
      const notebook = panel.content;
      const watched = new WeakSet<ICellModel>();
      const wanted = (cell: ICellModel): string | null => {
        const spec = CELL_MAGIC.test(cell.sharedModel.getSource());
        const want = spec ? MIME : notebook.codeMimetype;
        return cell.mimeType !== want && (spec || cell.mimeType === MIME) ? want : null;
      };
      const fix = (cell: ICellModel) => {
        if (wanted(cell) === null) {
          return;
        }
        // NOTE: a cell's editor applies each MIME type's language when it has loaded, without
        // checking that it is still the cell's: switch only once the language just set (the
        // kernel's, loaded lazily) is in, or it lands after msense and wins.
        void languages
          .getLanguage(cell.mimeType)
          .catch(() => null)
          .then(() =>
            setTimeout(() => {
              const want = wanted(cell);
              if (want !== null) {
                cell.mimeType = want;
              }
            }, 0)
          );
      };
      const apply = () => {
        const list = notebook.model?.cells;
        for (let i = 0; list && i < list.length; i++) {
          const cell = list.get(i);
          if (cell.type !== 'code') {
            continue;
          }
          if (!watched.has(cell)) {
            watched.add(cell);
            cell.contentChanged.connect(() => fix(cell));
            cell.mimeTypeChanged.connect(() => fix(cell));
          }
          fix(cell);
        }
      };
      void panel.context.ready.then(() => {
        apply();
        notebook.model?.cells.changed.connect(apply);
      });
    });
  }
};

/**
 * Sends the body of a `%%msense` cell (the lines after the magic) to `msense lsp` as a document of
 * its own: jupyterlab-lsp then underlines its findings in the cell, at the cell's lines. Without
 * it, jupyterlab-lsp gives a notebook's cells only to the kernel language's server.
 */
export class MsenseCellExtractor implements IForeignCodeExtractor {
  readonly language = 'msense';
  readonly cellType = ['code'];
  readonly standalone = true; // each cell is a spec of its own, as the magic checks it
  readonly fileExtension = 'msense';

  hasForeignCode(code: string, cellType: string): boolean {
    return cellType === 'code' && CELL_MAGIC.test(code);
  }

  extractForeignCode(code: string): IExtractedCode[] {
    if (!CELL_MAGIC.test(code)) {
      return [{ foreignCode: null, range: null, virtualShift: null, hostCode: code }];
    }
    const lines = code.split('\n');
    const last = lines.length - 1;
    const end = { line: last, column: lines[last].length };
    const start = last === 0 ? end : { line: 1, column: 0 };
    const body = last === 0 ? '' : lines.slice(1).join('\n');
    // The kernel language's document keeps nothing of the cell: it is no Python.
    return [{ foreignCode: body, range: { start, end }, virtualShift: null, hostCode: '' }];
  }
}

const lsp: JupyterFrontEndPlugin<void> = {
  id: 'metricsense:lsp-cells',
  description: 'Sends %%msense cells to msense lsp through jupyterlab-lsp.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILSPCodeExtractorsManager, ILSPDocumentConnectionManager],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    extractors: ILSPCodeExtractorsManager | null,
    connections: ILSPDocumentConnectionManager | null
  ) => {
    if (!extractors) {
      return;
    }
    extractors.register(new MsenseCellExtractor(), null); // any kernel language: the magic decides
    // NOTE: a notebook's cells are split into documents when its kernel language's server
    // connects, or on an edit; with no server for that language (no Python server installed),
    // the `%%msense` cells of a notebook just opened would wait for the first keystroke. The
    // adapter (jupyterlab-lsp's or JupyterLab's) is filed under the notebook's path.
    notebooks.widgetAdded.connect((_, panel: NotebookPanel) => {
      void panel.context.ready
        .then(async () => {
          const adapter = connections?.adapters.get(panel.context.path);
          if (adapter) {
            await adapter.ready;
            await adapter.updateDocuments();
          }
        })
        .catch(() => undefined);
    });
  }
};

/**
 * The explorer's output: the live widget where a widget manager has its model, its snapshot where
 * none has (a notebook reopened; src/snapshot.ts). Registered in the application's registry,
 * which each notebook and console copies when it opens.
 */
const snapshots: JupyterFrontEndPlugin<void> = {
  id: 'metricsense:explorer-snapshot',
  description: "Shows the explorer's snapshot where its widget model is in no kernel.",
  autoStart: true,
  requires: [IRenderMimeRegistry],
  activate: (app: JupyterFrontEnd, rendermime: IRenderMimeRegistry) => {
    rendermime.addFactory(
      {
        safe: false, // as the widget view: an untrusted output shows text/html, sanitized
        mimeTypes: [EXPLORER_MIME],
        defaultRank: EXPLORER_RANK,
        createRenderer: options => new ExplorerRenderer(options, rendermime)
      },
      EXPLORER_RANK
    );
  }
};

export default [language, cells, lsp, snapshots];
