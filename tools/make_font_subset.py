"""Rebuild course_lib/fonts/NotoSansSC-Course.otf: Noto Sans CJK SC cut down to the course's characters.

Needs Debian's fonts-noto-cjk (OFL 1.1) and fontTools:  python tools/make_font_subset.py
Keeps ASCII, CJK punctuation, the 6,763 GB2312 characters (the common simplified set) and every
character used in the notebooks, course_lib and the toy corpus.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FACE_SC = 2  # "Noto Sans CJK SC" inside the collection
OUT = ROOT / "course_lib" / "fonts" / "NotoSansSC-Course.otf"


def gb2312_characters() -> set[str]:
    """Every character of GB2312's two Hanzi levels (rows 0xB0-0xF7)."""
    chars = set()
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def course_characters() -> set[str]:
    """Non-ASCII characters in the project's notebooks and Python files."""
    chars = set()
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("course_lib/**/*.py")]:
        chars.update(c for c in path.read_text(encoding="utf-8") if ord(c) > 0x7F)
    return chars


def main() -> None:
    if not SOURCE.exists():
        sys.exit(f"error: {SOURCE} not found: apt-get install fonts-noto-cjk")
    punctuation = {chr(c) for c in range(0x3000, 0x3040)} | {chr(c) for c in range(0xFF01, 0xFF5F)}
    text = "".join(sorted(gb2312_characters() | course_characters() | punctuation))
    chars_file = OUT.with_suffix(".chars.txt")
    chars_file.write_text(text, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "fontTools.subset", str(SOURCE), f"--font-number={FACE_SC}",
         f"--text-file={chars_file}", "--unicodes=U+0020-007E,U+00A0-00FF,U+2010-2027,U+2190-21FF,U+2200-22FF",
         "--layout-features=*", "--name-IDs=*", f"--output-file={OUT}"],
        check=True,
    )
    chars_file.unlink()
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB, {len(text)} characters)")


if __name__ == "__main__":
    main()
