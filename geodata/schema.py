"""Names, codes, labels and CRS constants of the Grid Map model: the one place for them.

Every other module refers to these constants instead of repeating string literals. Chinese labels of
codes live here (and in docs/MODEL.md); UI text lives in the dashboard's message catalog.
"""
from __future__ import annotations

from typing import Final

# --- Coordinates -------------------------------------------------------------------------------
#: Everything is stored and computed in WGS84 longitude/latitude; display conversion happens in `layers`.
STORE_CRS: Final = "EPSG:4326"
STORE_SRID: Final = 4326
CGCS2000: Final = "EPSG:4490"
#: CGCS2000 / 3-degree Gauss-Kruger CM 120E (Changzhou survey files, metres).
CGCS2000_GK_120E: Final = "EPSG:4549"
#: Pseudo-CRS names for Chinese map offsets that pyproj cannot express.
GCJ02: Final = "gcj02"
BD09: Final = "bd09"
OFFSET_CRS: Final = (GCJ02, BD09)
#: Metric CRS used for areas, distances and building-to-grid assignment around Changzhou.
METRIC_CRS: Final = CGCS2000_GK_120E

# --- Register (家庭户情况平铺表) canonical fields ----------------------------------------------------
SEQ: Final = "seq"
ADDRESS: Final = "address"
BUILDING: Final = "building"
UNIT: Final = "unit"
ROOM: Final = "room"
HEAD_NAME: Final = "head_name"
NAME: Final = "name"
RELATION: Final = "relation"
ID_NUMBER: Final = "id_number"
SEX: Final = "sex"
BIRTH_DATE: Final = "birth_date"
PHONE: Final = "phone"
POLITICAL_STATUS: Final = "political_status"
HUKOU_TYPE: Final = "hukou_type"
RESIDENCE_STATUS: Final = "residence_status"
LANDLORD: Final = "landlord"
NOTE: Final = "note"
GRID: Final = "grid"

#: Canonical register field -> header texts seen in real flat tables (matched after NFKC, no spaces).
REGISTER_HEADER_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    SEQ: ("序号", "编号", "No"),
    GRID: ("网格", "所属网格", "网格名称", "网格编号"),
    ADDRESS: ("地址", "住址", "家庭住址", "房屋地址", "门牌地址", "详细地址"),
    BUILDING: ("楼栋", "楼号", "幢", "幢号", "栋", "栋号", "楼栋号", "楼幢"),
    UNIT: ("单元", "单元号"),
    ROOM: ("室号", "门牌号", "房号", "室", "房间号"),
    HEAD_NAME: ("户主姓名", "户主"),
    NAME: ("姓名", "成员姓名", "人员姓名"),
    RELATION: ("与户主关系", "关系", "家庭关系"),
    ID_NUMBER: ("身份证号码", "身份证号", "公民身份号码", "证件号码", "身份证"),
    SEX: ("性别",),
    BIRTH_DATE: ("出生年月", "出生日期", "出生年月日"),
    PHONE: ("联系电话", "手机号码", "电话", "手机", "联系方式", "电话号码"),
    POLITICAL_STATUS: ("政治面貌",),
    HUKOU_TYPE: ("户籍类型", "户口类型", "户籍性质", "户籍"),
    RESIDENCE_STATUS: ("居住状态", "居住情况", "房屋状态", "住房性质"),
    LANDLORD: ("房东姓名", "房东", "房主"),
    NOTE: ("备注",),
}
#: A register must have these (or ADDRESS instead of BUILDING/UNIT/ROOM).
REGISTER_REQUIRED: Final = (NAME, ID_NUMBER)

# --- Checkpoint registrations (人员排查和交通管控信息表) -------------------------------------------
CP_ROLE: Final = "cp_role"
PLATE: Final = "plate"
PASS_NO: Final = "pass_no"
REG_DATE: Final = "reg_date"
CHECKPOINT_HEADER_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    SEQ: ("序号", "编号"),
    NAME: ("姓名",),
    ID_NUMBER: ("身份证号码", "身份证号", "公民身份号码", "证件号码"),
    PHONE: ("联系电话", "手机号码", "电话", "手机"),
    ADDRESS: ("住址", "居住地址", "现住址", "详细地址", "地址", "小区住址"),
    CP_ROLE: ("身份", "人员类型", "类别", "业主/租户", "人员身份", "居住类型"),
    PLATE: ("车牌号", "车牌号码", "车牌"),
    PASS_NO: ("出入证号", "通行证号", "出入证编号"),
    REG_DATE: ("登记日期", "登记时间", "办证日期"),
    NOTE: ("备注",),
}
CHECKPOINT_REQUIRED: Final = (NAME, ADDRESS)

#: Checkpoint role codes (身份) and the texts that mean them.
CP_OWNER: Final = "owner"
CP_TENANT: Final = "tenant"
CP_FAMILY: Final = "family"
CP_ROLE_LABELS: Final = {CP_OWNER: "业主", CP_TENANT: "租户", CP_FAMILY: "家属"}
CP_ROLE_SYNONYMS: Final = {
    "业主": CP_OWNER, "房主": CP_OWNER, "户主": CP_OWNER, "产权人": CP_OWNER,
    "租户": CP_TENANT, "租客": CP_TENANT, "承租人": CP_TENANT, "外来租住": CP_TENANT,
    "家属": CP_FAMILY, "家庭成员": CP_FAMILY, "亲属": CP_FAMILY, "同住人": CP_FAMILY,
}

# --- ID numbers (GB 11643-1999) -----------------------------------------------------------------
ID_OK: Final = "ok"
ID_UPGRADED_15: Final = "upgraded_15"
ID_EXCEL_FLOAT: Final = "excel_float"      # stored as a number by Excel: last digits lost, re-collect
ID_BAD_CHECKSUM: Final = "bad_checksum"
ID_BAD_DATE: Final = "bad_date"
ID_BAD_FORMAT: Final = "bad_format"
#: ID statuses that make an ID unusable: corrupted by Excel, or invalid.
BAD_ID_STATUSES: Final = (ID_EXCEL_FLOAT, ID_BAD_CHECKSUM, ID_BAD_DATE, ID_BAD_FORMAT)
ID_MISSING: Final = "missing"
ID_STATUS_LABELS: Final = {
    ID_OK: "有效", ID_UPGRADED_15: "15位已升级", ID_EXCEL_FLOAT: "被Excel损坏（需重新采集）",
    ID_BAD_CHECKSUM: "校验位错误", ID_BAD_DATE: "出生日期无效", ID_BAD_FORMAT: "格式错误", ID_MISSING: "缺失",
}
ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS: Final = "10X98765432"

# --- Codes of people and households -----------------------------------------------------------
SEX_MALE: Final = "M"
SEX_FEMALE: Final = "F"
SEX_LABELS: Final = {SEX_MALE: "男", SEX_FEMALE: "女"}

#: GB/T 4762 political status codes.
POLITICAL_STATUS_LABELS: Final = {
    "01": "中共党员", "02": "中共预备党员", "03": "共青团员", "04": "民革党员", "05": "民盟盟员",
    "06": "民建会员", "07": "民进会员", "08": "农工党党员", "09": "致公党党员", "10": "九三学社社员",
    "11": "台盟盟员", "12": "无党派人士", "13": "群众",
}
PARTY_CODES: Final = ("01", "02")
POLITICAL_STATUS_SYNONYMS: Final = {
    "党员": "01", "中共党员": "01", "共产党员": "01", "预备党员": "02", "中共预备党员": "02",
    "团员": "03", "共青团员": "03", "群众": "13", "无党派": "12", "无党派人士": "12",
}

#: GB/T 4761-2008 relation to head of household (codes and the texts used in flat tables).
RELATION_LABELS: Final = {
    "02": "户主", "10": "配偶", "20": "子", "30": "女", "40": "孙子女", "50": "父母", "51": "父亲",
    "52": "母亲", "60": "祖父母", "70": "兄弟姐妹", "80": "其他亲属", "99": "非亲属",
}
RELATION_SYNONYMS: Final = {
    "户主": "02", "本人": "02", "配偶": "10", "妻": "10", "妻子": "10", "夫": "10", "丈夫": "10",
    "子": "20", "儿子": "20", "长子": "20", "次子": "20", "女": "30", "女儿": "30", "长女": "30", "次女": "30",
    "孙子": "40", "孙女": "40", "外孙": "40", "外孙女": "40", "孙子女": "40", "父母": "50",
    "父亲": "51", "父": "51", "母亲": "52", "母": "52", "祖父": "60", "祖母": "60",
    "兄弟姐妹": "70", "兄": "70", "弟": "70", "姐": "70", "妹": "70", "儿媳": "80", "女婿": "80",
    "其他": "80", "其他亲属": "80", "租户": "99", "租客": "99", "非亲属": "99", "保姆": "99",
}
HEAD_RELATION: Final = "02"

HUKOU_LOCAL: Final = "local"
HUKOU_NONLOCAL: Final = "nonlocal"
HUKOU_LABELS: Final = {HUKOU_LOCAL: "本地户籍", HUKOU_NONLOCAL: "外地户籍"}
HUKOU_SYNONYMS: Final = {"本地": HUKOU_LOCAL, "本地户籍": HUKOU_LOCAL, "常住": HUKOU_LOCAL, "户籍": HUKOU_LOCAL,
                         "外地": HUKOU_NONLOCAL, "外地户籍": HUKOU_NONLOCAL, "流动人口": HUKOU_NONLOCAL,
                         "流动": HUKOU_NONLOCAL, "外来": HUKOU_NONLOCAL}

RES_OWNER: Final = "owner_occupied"
RES_RENTED: Final = "rented"
RES_VACANT: Final = "vacant"
RESIDENCE_LABELS: Final = {RES_OWNER: "自住", RES_RENTED: "出租", RES_VACANT: "空置"}
RESIDENCE_SYNONYMS: Final = {"自住": RES_OWNER, "自有": RES_OWNER, "自用": RES_OWNER, "出租": RES_RENTED,
                             "租住": RES_RENTED, "租赁": RES_RENTED, "空置": RES_VACANT, "空房": RES_VACANT,
                             "闲置": RES_VACANT}

#: Unit (单元) names: 甲乙丙丁 are units 1..4.
UNIT_HEAVENLY_STEMS: Final = "甲乙丙丁戊己庚辛"
ELDERLY_AGE: Final = 60

# --- Reconciliation findings -------------------------------------------------------------------
F_ABSENT_REGISTERED: Final = "absent_registered"
F_PRESENT_UNREGISTERED: Final = "present_unregistered"
F_TENANT_CHANGED: Final = "tenant_changed"
F_OWNER_CHANGED: Final = "owner_changed"
FLAT_FINDINGS: Final = (F_ABSENT_REGISTERED, F_PRESENT_UNREGISTERED, F_TENANT_CHANGED, F_OWNER_CHANGED)
F_NEW_MEMBER: Final = "new_member"
F_ID_AT_TWO_FLATS: Final = "id_at_two_flats"
F_ID_CORRUPTED: Final = "id_corrupted"
F_ID_INVALID: Final = "id_invalid"
F_BIRTH_MISMATCH: Final = "birth_date_mismatch"
F_MISSING_PHONE: Final = "missing_phone"
F_AMBIGUOUS_MATCH: Final = "ambiguous_match"
PERSON_FINDINGS: Final = (F_NEW_MEMBER, F_ID_AT_TWO_FLATS, F_ID_CORRUPTED, F_ID_INVALID, F_BIRTH_MISMATCH,
                          F_MISSING_PHONE, F_AMBIGUOUS_MATCH)
F_CONFIRM_PARTY: Final = "confirm_party_family"
F_CONFIRM_ELDERLY: Final = "confirm_elderly"
HOUSEHOLD_FINDINGS: Final = (F_CONFIRM_PARTY, F_CONFIRM_ELDERLY)
#: Every category, in the order legends and tables list them.
FINDING_CATEGORIES: Final = FLAT_FINDINGS + PERSON_FINDINGS + HOUSEHOLD_FINDINGS
FINDING_LABELS: Final = {
    F_ABSENT_REGISTERED: "户在人不在", F_PRESENT_UNREGISTERED: "人在户不在", F_TENANT_CHANGED: "租户变更",
    F_OWNER_CHANGED: "户主变更", F_NEW_MEMBER: "新增成员", F_ID_AT_TWO_FLATS: "一证多户",
    F_ID_CORRUPTED: "身份证号被Excel损坏", F_ID_INVALID: "身份证号无效", F_BIRTH_MISMATCH: "出生日期与身份证不符",
    F_MISSING_PHONE: "缺少联系电话", F_AMBIGUOUS_MATCH: "匹配不唯一", F_CONFIRM_PARTY: "核实党员家庭",
    F_CONFIRM_ELDERLY: "核实60岁以上老人",
}
FINDING_OPEN: Final = "open"
FINDING_PENDING_APPROVAL: Final = "pending_approval"
FINDING_CLOSED: Final = "closed"

# --- Verification visits ---------------------------------------------------------------------
M_PHONE: Final = "phone"
M_DOOR: Final = "door"
M_WINDOW: Final = "window"
M_NEIGHBOUR: Final = "neighbour"
M_RECORDS: Final = "records"
METHOD_LABELS: Final = {M_PHONE: "电话", M_DOOR: "上门", M_WINDOW: "窗口", M_NEIGHBOUR: "邻里", M_RECORDS: "档案"}
R_CONFIRMED: Final = "confirmed"
R_CORRECTED: Final = "corrected"
R_UNREACHABLE: Final = "unreachable"
R_REVISIT: Final = "revisit"
RESULT_LABELS: Final = {R_CONFIRMED: "核实无误", R_CORRECTED: "已更正", R_UNREACHABLE: "联系不上", R_REVISIT: "需复访"}
#: Results that close a finding and count the household as verified.
CLOSING_RESULTS: Final = (R_CONFIRMED, R_CORRECTED)

#: Building / grid verification status (map colours).
V_VERIFIED: Final = "verified"
V_IN_PROGRESS: Final = "in_progress"
V_NOT_STARTED: Final = "not_started"
V_OPEN_FINDINGS: Final = "open_findings"
VERIFICATION_LABELS: Final = {V_VERIFIED: "已全部核实", V_IN_PROGRESS: "核实中", V_NOT_STARTED: "未开始",
                              V_OPEN_FINDINGS: "已核实，仍有出入"}

# --- Events (事件, 数字城管 procedure) ------------------------------------------------------------
E_REPORTED: Final = "reported"
E_ACCEPTED: Final = "accepted"
E_DISPATCHED: Final = "dispatched"
E_IN_PROGRESS: Final = "in_progress"
E_HANDLED: Final = "handled"
E_VERIFYING: Final = "verifying"
E_CLOSED: Final = "closed"
E_REJECTED: Final = "rejected"
E_ON_HOLD: Final = "on_hold"
EVENT_STATE_LABELS: Final = {
    E_REPORTED: "上报", E_ACCEPTED: "受理", E_DISPATCHED: "派遣", E_IN_PROGRESS: "处置",
    E_HANDLED: "处置反馈", E_VERIFYING: "核查", E_CLOSED: "结案", E_REJECTED: "不予受理", E_ON_HOLD: "挂账",
}
EVENT_OPEN_STATES: Final = (E_REPORTED, E_ACCEPTED, E_DISPATCHED, E_IN_PROGRESS, E_HANDLED, E_VERIFYING, E_ON_HOLD)
EVENT_TRANSITIONS: Final = {
    E_REPORTED: (E_ACCEPTED, E_REJECTED, E_CLOSED),
    E_ACCEPTED: (E_DISPATCHED, E_ON_HOLD, E_CLOSED),
    E_DISPATCHED: (E_IN_PROGRESS, E_ON_HOLD, E_CLOSED),
    E_IN_PROGRESS: (E_HANDLED, E_ON_HOLD, E_CLOSED),
    E_HANDLED: (E_VERIFYING, E_CLOSED),
    E_VERIFYING: (E_CLOSED, E_DISPATCHED),
    E_ON_HOLD: (E_DISPATCHED, E_CLOSED),
    E_CLOSED: (),
    E_REJECTED: (),
}
EC_REPAIR: Final = "repair"
EC_SANITATION: Final = "sanitation"
EC_DISPUTE: Final = "dispute"
EC_ELDERLY_CARE: Final = "elderly_care"
EC_SAFETY: Final = "safety"
EC_OTHER: Final = "other"
EVENT_CATEGORY_LABELS: Final = {EC_REPAIR: "设施维修", EC_SANITATION: "环境卫生", EC_DISPUTE: "矛盾纠纷",
                                EC_ELDERLY_CARE: "老人关爱", EC_SAFETY: "安全隐患", EC_OTHER: "其他"}

# --- Care contacts with elderly living alone -----------------------------------------------------
CARE_OK: Final = "ok"
CARE_CONCERN: Final = "concern"
CARE_NO_ANSWER: Final = "no_answer"
CARE_OUTCOME_LABELS: Final = {CARE_OK: "一切正常", CARE_CONCERN: "有需求/异常", CARE_NO_ANSWER: "未联系上"}

# --- Users and roles ---------------------------------------------------------------------------
ROLE_STREET: Final = "street_staff"
ROLE_COMMUNITY_ADMIN: Final = "community_admin"
ROLE_GRID_LEADER: Final = "grid_leader"
ROLE_GRID_WORKER: Final = "grid_worker"
ROLE_LABELS: Final = {ROLE_STREET: "街道工作人员", ROLE_COMMUNITY_ADMIN: "社区管理员", ROLE_GRID_LEADER: "网格长",
                      ROLE_GRID_WORKER: "网格员"}
ROLES: Final = tuple(ROLE_LABELS)

# --- Change history and audit ------------------------------------------------------------------
HOW_IMPORT: Final = "import"
HOW_VISIT: Final = "visit"
HOW_MANUAL: Final = "manual"
HOW_APPROVAL: Final = "approval"
HOW_LABELS: Final = {HOW_IMPORT: "导入", HOW_VISIT: "核实走访", HOW_MANUAL: "手工修改", HOW_APPROVAL: "审批"}
ENTITY_PERSON: Final = "person"
ENTITY_HOUSEHOLD: Final = "household"
ENTITY_FLAT: Final = "flat"
TARGET_USER: Final = "user"
TARGET_CHECKPOINT: Final = "checkpoint"
A_REVEAL: Final = "reveal"
A_EXPORT: Final = "export"
A_CHANGE: Final = "change"
A_LOGIN: Final = "login"
A_LOGIN_FAILED: Final = "login_failed"
A_IMPORT: Final = "import"

# --- Import accounting -------------------------------------------------------------------------
K_GRIDS: Final = "grids"
K_BUILDINGS: Final = "buildings"
K_REGISTER: Final = "register"
K_CHECKPOINT: Final = "checkpoint"
SKIP_BLANK: Final = "blank"
SKIP_TITLE: Final = "title"
SKIP_TOTAL: Final = "total"

#: Marker shown wherever synthetic data is displayed.
SYNTHETIC_LABEL: Final = "演示数据"
