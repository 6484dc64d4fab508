"""What tuneguard says about input it cannot take as given: a config key written twice, a
`--set` that reaches inside a value, a data file in an encoding or a compression its name
does not say, a row too long to tokenize. Each is one line that names the input and the fix."""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

INPUT: dict[str, dict[str, str]] = {
    "input.yaml_duplicate": {
        "en": "the key '{key}' appears twice in one mapping (first on line {first}), and YAML would silently keep only the last; keep one",
        "th": "คีย์ '{key}' ปรากฏสองครั้งในแมปปิงเดียวกัน (ครั้งแรกที่บรรทัด {first}) และ YAML จะเก็บไว้เพียงค่าสุดท้ายโดยไม่แจ้ง ให้เหลือไว้เพียงหนึ่ง"},
    "input.set_inside_value": {
        "en": "--set '{item}': {key} is a value, not a section, so {key}.{rest} names nothing; set the value itself with --set {key}=VALUE",
        "th": "--set '{item}': {key} เป็นค่า ไม่ใช่ส่วนของ config ดังนั้น {key}.{rest} ไม่ได้ชี้ถึงอะไร ให้ตั้งค่าโดยตรงด้วย --set {key}=VALUE"},
    "input.utf16": {
        "en": "data file {path} is UTF-16 text, and data files are read as UTF-8: save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)",
        "th": "ไฟล์ข้อมูล {path} เป็นข้อความ UTF-16 แต่ไฟล์ข้อมูลอ่านเป็น UTF-8: ให้บันทึกเป็น UTF-8 (เช่น `iconv -f UTF-16 -t UTF-8`)"},
    "input.gzip_unnamed": {
        "en": "data file {path} is gzip-compressed but its name does not end in .gz: rename it to {renamed} or decompress it",
        "th": "ไฟล์ข้อมูล {path} ถูกบีบอัดด้วย gzip แต่ชื่อไม่ได้ลงท้ายด้วย .gz: เปลี่ยนชื่อเป็น {renamed} หรือแตกไฟล์ก่อน"},
    "input.row_too_long": {
        "en": "the row is longer than the {limit:,} characters a row may hold, longer than any context window and slow to tokenize: split it into rows or drop it ({chars:,} characters)",
        "th": "แถวนี้ยาวเกิน {limit:,} ตัวอักษรที่แถวหนึ่งมีได้ ยาวกว่า context window ใดๆ และใช้เวลา tokenize นาน: แบ่งเป็นหลายแถวหรือลบทิ้ง ({chars:,} ตัวอักษร)"},
    "input.interrupted": {"en": "interrupted (Ctrl-C)", "th": "ถูกขัดจังหวะ (Ctrl-C)"},
    "input.interrupted_setup": {
        "en": "interrupted (Ctrl-C) before training started: nothing was trained, and the same command starts the run again in the same run directory",
        "th": "ถูกขัดจังหวะ (Ctrl-C) ก่อนเริ่มการฝึก: ยังไม่ได้ฝึกอะไร และคำสั่งเดิมจะเริ่มการรันใหม่ในโฟลเดอร์ของการรันเดิมได้"},
}
