// metricsense in JupyterLab 4: the msense language (CodeMirror 6), the .msense file type, a
// "New KPI spec" launcher and File > New item, and `%%msense` cells highlighted as msense.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { LanguageSupport } from '@codemirror/language';

import iconSvg from '../style/icon.svg';
import { msense } from './language';
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
  optional: [ILauncher, IMainMenu, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    languages: IEditorLanguageRegistry,
    launcher: ILauncher | null,
    mainMenu: IMainMenu | null,
    browser: IDefaultFileBrowser | null
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
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.widgetAdded.connect((_, panel: NotebookPanel) => {
      const watched = new WeakSet<object>();
      const apply = () => {
        const notebook = panel.content;
        const list = notebook.model?.cells;
        if (!list) {
          return;
        }
        for (let i = 0; i < list.length; i++) {
          const cell = list.get(i);
          if (cell.type !== 'code') {
            continue;
          }
          const fix = () => {
            const spec = CELL_MAGIC.test(cell.sharedModel.getSource());
            const want = spec ? MIME : notebook.codeMimetype;
            if (cell.mimeType !== want && (spec || cell.mimeType === MIME)) {
              cell.mimeType = want;
            }
          };
          if (!watched.has(cell)) {
            watched.add(cell);
            cell.contentChanged.connect(fix);
            cell.mimeTypeChanged.connect(fix);
          }
          fix();
        }
      };
      panel.context.ready.then(() => {
        apply();
        panel.content.model?.cells.changed.connect(apply);
      });
    });
  }
};

export default [language, cells];
