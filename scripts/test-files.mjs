// Lists compiled test files for scripts/test.sh. `--unit`: the inner loop, every file that needs
// no test rig: not the legs (qemu, sanitizers, other Node builds, packed tarballs), not the kernel
// rig, not the end-to-end tests, not the agent image (test/image: image builds, qemu, containerd),
// not the browser tests (test/ui: Chromium from scripts/setup/60-browser.sh), and no file that
// imports a rig's support module (the Kubernetes API server, the cross tools, the kernel VM, the
// network lab, the local registry). Without --unit: every test file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const RIG_DIRS = ['dist/test/legs/', 'dist/test/kernel/', 'dist/test/e2e/', 'dist/test/lab/', 'dist/test/image/', 'dist/test/ui/'];
const RIG_IMPORTS = /from ['"][./]*(?:support\/)?(?:k8s\/|cross\.js|kernel-rig\/|lab\.js|k3s-lab\.js|oci-registry\.js)/;

const unit = process.argv.includes('--unit');
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d).sort()) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.test.js')) files.push(relative(process.cwd(), p));
  }
};
walk('dist/test');
const needsRig = (f) => RIG_DIRS.some((d) => f.startsWith(d)) || RIG_IMPORTS.test(readFileSync(f, 'utf8'));
for (const f of files) if (!unit || !needsRig(f)) console.log(f);
