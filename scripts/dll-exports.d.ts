export interface DllExport {
  name: string;
  /** True for a variable (not in executable code): DATA in a .def file. */
  data: boolean;
}
export function dllExports(path: string): { machine: 'x64' | 'arm64' | 'x86'; name: string; exports: DllExport[] };
export function writeDefFile(dllPath: string, defPath: string): 'x64' | 'arm64' | 'x86';
