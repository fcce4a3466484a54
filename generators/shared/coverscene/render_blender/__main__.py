"""``python -m generators.shared.coverscene.render_blender --serve FD``: the Blender child process."""

import sys

from generators.shared.coverscene.render_blender._process import _serve

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        sys.exit(_serve(int(sys.argv[2])))
    print("usage: python -m generators.shared.coverscene.render_blender --serve FD (started by render_scene_blender)",
          file=sys.stderr)  # fmt: skip
    sys.exit(2)
