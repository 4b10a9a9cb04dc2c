"""Plausible, deterministic demo data for an empty store (``crm demo-data``).

What it makes, for ``contacts=N``: an admin, a sales manager and a team of four reps with
territories; the default sales stages; a product catalog with price lists in USD, EUR and JPY
(plus last year's, inactive); about N/4 company accounts in thirteen countries (industry, region,
status, grades, credit limit, owner by territory, some parent companies, addresses), N contacts
named in English, German, French, Spanish, Chinese, Japanese and Korean (CJK names in native script
and order) with titles and departments at their accounts, some also advising a second company,
some individual customers with an account of their own and some standing alone; leads from
sources and campaigns, some converted (linked both ways); opportunities across every stage (lost
ones with a loss reason), their buying centres, quotes with lines and revisions (totals from
:func:`crm_desktop.services.quotes.recalculate`), sales orders for accepted quotes, quotas, and
past and future calls, meetings, e-mails, tasks (some overdue) and notes. A few records are
tombstoned, as in any store that has been used.

Determinism: the same seed and ``today`` give byte-identical exports. Every random choice comes
from seeded :class:`random.Random` streams, ids included (UUIDv7-shaped: the record's creation
time in milliseconds, then seeded random bits, so ids sort by creation like real ones), and every
timestamp is relative to ``today``, never to the clock. Nothing iterates a set or a hash order.

Speed: rows are buffered per table and written with Core ``executemany`` inserts, flushed in
foreign-key dependency order (parents before children) so the immediate foreign-key checks always
find their parents; the two reference cycles (team <-> manager, lead <-> what it became) are
closed with UPDATEs at the end. The search index is then rebuilt with
:func:`crm_desktop.store.search.reindex` on the same connection. Everything happens in the
caller's transaction; nothing here commits. No Qt.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Enum,
    Integer,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from crm_desktop.models import ENTITIES, Account, Base, Contact, Quote, QuoteLine, SalesStage, User
from crm_desktop.models.base import Money, UTCDateTime
from crm_desktop.models.enums import (
    AccountKind,
    AccountStatus,
    ActivityKind,
    ActivityStatus,
    Attitude,
    BuyingRole,
    ContactPointKind,
    Grade,
    Influence,
    LeadStatus,
    OrderStatus,
    Priority,
    PurchaseType,
    QuoteStatus,
    Role,
)
from crm_desktop.services.errors import ServiceError
from crm_desktop.services.money import round_money
from crm_desktop.services.pipeline import ensure_default_stages
from crm_desktop.services.quotes import recalculate
from crm_desktop.store import search

#: The date demo data is relative to unless told otherwise: fixed, so output is reproducible.
DEFAULT_TODAY = date(2026, 11, 16)

T = TypeVar("T")

_DAY = timedelta(days=1)
#: Rows buffered (all tables together) before they are written.
_FLUSH_ROWS = 20_000
#: SQLite page cache while loading (KiB); the connection's own setting is restored afterwards.
_BULK_CACHE_KIB = 256 * 1024


# --------------------------------------------------------------------------------------------
# Reference data: names, places, companies, products. Small hand-made lists keep the packaged
# app small and the output stable (no third-party data whose versions could change it).


def fold(text: str) -> str:
    """ASCII lower-case form of a Latin name for e-mail addresses and domains ("Zoë" -> "zoe")."""
    text = text.replace("ß", "ss").replace("æ", "ae").replace("ø", "o").replace("œ", "oe")
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in " -."))
    return "-".join(ascii_only.lower().split())


def _latin(names: str) -> tuple[tuple[str, str], ...]:
    """Space-separated Latin names as (native, ASCII) pairs."""
    return tuple((n.replace("_", " "), fold(n.replace("_", " "))) for n in names.split())


def _pairs(spec: str) -> tuple[tuple[str, str], ...]:
    """``"张:zhang 伟:wei"`` as (native, romanised) pairs."""
    return tuple((native, roman) for native, roman in (p.split(":") for p in spec.split()))


@dataclass(frozen=True)
class _Language:
    """How people of one language are named, titled and addressed."""

    code: str
    given: tuple[tuple[str, str], ...]
    family: tuple[tuple[str, str], ...]
    family_first: bool
    separator: str  # between the two parts of the full name
    jobs: tuple[tuple[str, str], ...]  # (title, department)
    free_mail: tuple[str, ...]


_LANGUAGES: dict[str, _Language] = {
    "en": _Language(
        "en",
        _latin(
            "James John Robert Michael David William Richard Thomas Christopher Daniel Matthew "
            "Andrew Joshua Kevin Brian Jonathan Emily Sarah Jessica Jennifer Elizabeth Ashley "
            "Megan Olivia Emma Sophia Zoë Chloe Grace Hannah Laura Rachel Johanna"
        ),
        _latin(
            "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
            "Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King "
            "Wright Scott Green Baker Adams Nelson O'Brien Murphy Kelly"
        ),
        False,
        " ",
        (
            ("Chief Executive Officer", "Executive"),
            ("Chief Financial Officer", "Finance"),
            ("VP Operations", "Operations"),
            ("Head of Procurement", "Procurement"),
            ("Purchasing Manager", "Procurement"),
            ("Buyer", "Procurement"),
            ("IT Director", "IT"),
            ("Operations Manager", "Operations"),
            ("Project Manager", "Engineering"),
            ("Plant Manager", "Manufacturing"),
            ("Fleet Manager", "Logistics"),
            ("Logistics Coordinator", "Logistics"),
        ),
        ("gmail.com", "outlook.com", "yahoo.com"),
    ),
    "de": _Language(
        "de",
        _latin(
            "Jürgen Klaus Stefan Andreas Michael Thomas Wolfgang Matthias Lukas Jonas Felix "
            "Maximilian Jörg Björn Günter Uwe Sabine Petra Claudia Anja Julia Katharina Lena "
            "Leonie Anna Sophie Ursula Birgit Käthe Mia"
        ),
        _latin(
            "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer "
            "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger "
            "Hofmann Hartmann Lange Köhler Groß Weiß Jäger"
        ),
        False,
        " ",
        (
            ("Geschäftsführer", "Geschäftsleitung"),
            ("Kaufmännische Leiterin", "Finanzen"),
            ("Leiter Einkauf", "Einkauf"),
            ("Einkäuferin", "Einkauf"),
            ("IT-Leiter", "IT"),
            ("Produktionsleiterin", "Produktion"),
            ("Projektleiter", "Projektmanagement"),
            ("Leiterin Logistik", "Logistik"),
            ("Fuhrparkleiter", "Logistik"),
        ),
        ("web.de", "gmx.de", "t-online.de"),
    ),
    "fr": _Language(
        "fr",
        _latin(
            "Jean Pierre Michel François Philippe Nicolas Julien Thomas Antoine Sébastien Jérôme "
            "Mathieu Benoît Stéphane Marie Nathalie Isabelle Sylvie Céline Sophie Élodie Camille "
            "Chloé Léa Manon Zoé Hélène Béatrice Agnès Clémence"
        ),
        _latin(
            "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
            "Lefèvre Michel David Bertrand Roux Vincent Fournier Morel Girard André Mercier "
            "Dupont Lambert Bonnet Rousseau Faure Chevalier Gauthier"
        ),
        False,
        " ",
        (
            ("Directeur général", "Direction"),
            ("Directrice financière", "Finance"),
            ("Directrice des achats", "Achats"),
            ("Acheteur", "Achats"),
            ("DSI", "Informatique"),
            ("Responsable logistique", "Logistique"),
            ("Chef de projet", "Projets"),
            ("Responsable de production", "Production"),
        ),
        ("orange.fr", "free.fr", "gmail.com"),
    ),
    "es": _Language(
        "es",
        _latin(
            "José Antonio Manuel Francisco Juan David Javier Daniel Carlos Jesús Alejandro Miguel "
            "Rafael Pablo Íñigo Ramón María Carmen Ana Isabel Laura Lucía Cristina Marta Elena "
            "Paula Sofía Inés Begoña Águeda"
        ),
        _latin(
            "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín "
            "Jiménez Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro "
            "Torres Domínguez Vázquez Ramos Gil Ramírez Serrano Blanco Núñez Peña Ibáñez"
        ),
        False,
        " ",
        (
            ("Director General", "Dirección"),
            ("Directora Financiera", "Finanzas"),
            ("Jefa de Compras", "Compras"),
            ("Comprador", "Compras"),
            ("Director de TI", "Sistemas"),
            ("Responsable de Logística", "Logística"),
            ("Jefe de Proyecto", "Proyectos"),
            ("Jefa de Planta", "Producción"),
        ),
        ("gmail.com", "hotmail.es", "outlook.es"),
    ),
    "zh": _Language(
        "zh",
        _pairs(
            "伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong "
            "艳:yan 杰:jie 娟:juan 涛:tao 明:ming 超:chao 秀英:xiuying 华:hua 平:ping 建华:jianhua "
            "志强:zhiqiang 晓明:xiaoming 海燕:haiyan 婷:ting 雪:xue 浩然:haoran 子涵:zihan 欣怡:xinyi "
            "宇轩:yuxuan 梓萱:zixuan 思远:siyuan"
        ),
        _pairs(
            "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu "
            "孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 林:lin 高:gao 罗:luo 郑:zheng 梁:liang 谢:xie "
            "宋:song 唐:tang 韩:han 冯:feng 邓:deng 曹:cao 欧阳:ouyang 司马:sima"
        ),
        True,
        "",
        (
            ("总经理", "总经办"),
            ("财务总监", "财务部"),
            ("采购经理", "采购部"),
            ("采购专员", "采购部"),
            ("技术总监", "技术部"),
            ("物流主管", "物流部"),
            ("项目经理", "项目部"),
            ("生产经理", "生产部"),
        ),
        ("qq.com", "163.com", "126.com"),
    ),
    "ja": _Language(
        "ja",
        _pairs(
            "翔太:shota 蓮:ren 大輔:daisuke 健太:kenta 拓也:takuya 直樹:naoki 悠真:yuma "
            "陽翔:haruto 誠:makoto 浩:hiroshi 陽菜:hina 結衣:yui 美咲:misaki さくら:sakura "
            "花子:hanako 由美:yumi 愛:ai 真由美:mayumi 恵子:keiko 彩:aya ひなた:hinata 太郎:taro"
        ),
        _pairs(
            "佐藤:sato 鈴木:suzuki 高橋:takahashi 田中:tanaka 伊藤:ito 渡辺:watanabe "
            "山本:yamamoto 中村:nakamura 小林:kobayashi 加藤:kato 吉田:yoshida 山田:yamada "
            "佐々木:sasaki 山口:yamaguchi 松本:matsumoto 井上:inoue 木村:kimura 林:hayashi "
            "斎藤:saito 清水:shimizu"
        ),
        True,
        " ",
        (
            ("代表取締役社長", "経営企画部"),
            ("経理部長", "経理部"),
            ("購買部長", "購買部"),
            ("購買担当", "購買部"),
            ("情報システム部長", "情報システム部"),
            ("物流課長", "物流部"),
            ("プロジェクトマネージャー", "開発部"),
            ("工場長", "製造部"),
        ),
        ("yahoo.co.jp", "gmail.com", "docomo.ne.jp"),
    ),
    "ko": _Language(
        "ko",
        _pairs(
            "민준:minjun 서연:seoyeon 지훈:jihoon 서윤:seoyun 도윤:doyun 하은:haeun 예준:yejun "
            "지우:jiwoo 수빈:subin 현우:hyunwoo 지민:jimin 유진:yujin 은지:eunji 성민:sungmin "
            "영수:youngsoo 미경:mikyung"
        ),
        _pairs(
            "김:kim 이:lee 박:park 최:choi 정:jung 강:kang 조:cho 윤:yoon 장:jang 임:lim 한:han "
            "오:oh 서:seo 신:shin 권:kwon 황:hwang"
        ),
        True,
        "",
        (
            ("대표이사", "경영지원팀"),
            ("재무 이사", "재무팀"),
            ("구매팀장", "구매팀"),
            ("구매 담당", "구매팀"),
            ("IT 팀장", "IT팀"),
            ("물류 과장", "물류팀"),
            ("프로젝트 매니저", "사업개발팀"),
        ),
        ("naver.com", "daum.net", "gmail.com"),
    ),
}
_LANGUAGE_CODES = tuple(_LANGUAGES)


@dataclass(frozen=True)
class _City:
    name: str
    state: str
    postal: str  # '#' is a random digit
    area: str  # telephone area code
    time_zone: str
    utc_offset: int  # standard-time hours; demo times need no DST precision


@dataclass(frozen=True)
class _Country:
    code: str
    languages: tuple[tuple[str, int], ...]  # (language, weight)
    currency: str
    tax_rate: Decimal
    region: str
    tld: str
    phone: str  # '{area}', '#' any digit, '%' a digit 2-9 (North American exchanges)
    mobile: str
    cities: tuple[_City, ...]
    weight: int


def _cities(zone: str, offset: int, *specs: str) -> tuple[_City, ...]:
    """``"Berlin|BE|10###|30"`` specs sharing one time zone."""
    cities = []
    for spec in specs:
        name, state, postal, area = spec.split("|")
        cities.append(_City(name, state, postal, area, zone, offset))
    return tuple(cities)


_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "US", (("en", 9), ("es", 1)), "USD", Decimal("0"), "North America", ".com",
        "+1 ({area}) %##-####", "+1 ({area}) %##-####",
        _cities("America/New_York", -5, "New York|NY|100##|212", "Boston|MA|021##|617")
        + _cities("America/Chicago", -6, "Chicago|IL|606##|312", "Austin|TX|787##|512")
        + _cities("America/Los_Angeles", -8, "San Francisco|CA|941##|415", "Seattle|WA|981##|206"),
        20,
    ),
    _Country(
        "CA", (("en", 7), ("fr", 3)), "USD", Decimal("5"), "North America", ".ca",
        "+1 ({area}) %##-####", "+1 ({area}) %##-####",
        _cities("America/Toronto", -5, "Toronto|ON|M5V #A#|416", "Montréal|QC|H2X #B#|514")
        + _cities("America/Vancouver", -8, "Vancouver|BC|V6B #C#|604"),
        5,
    ),
    _Country(
        "MX", (("es", 1),), "USD", Decimal("16"), "Latin America", ".com.mx",
        "+52 {area} #### ####", "+52 1 {area} #### ####",
        _cities(
            "America/Mexico_City", -6,
            "Ciudad de México|CDMX|06###|55", "Monterrey|NL|64###|81", "Guadalajara|JAL|44###|33",
        ),
        4,
    ),
    _Country(
        "DE", (("de", 1),), "EUR", Decimal("19"), "DACH", ".de",
        "+49 {area} ########", "+49 15# #######",
        _cities(
            "Europe/Berlin", 1,
            "Berlin|BE|10###|30", "München|BY|80###|89", "Hamburg|HH|20###|40",
            "Stuttgart|BW|70###|711", "Köln|NW|50###|221", "Düsseldorf|NW|40###|211",
        ),
        14,
    ),
    _Country(
        "AT", (("de", 1),), "EUR", Decimal("20"), "DACH", ".at",
        "+43 {area} ######", "+43 664 #######",
        _cities("Europe/Vienna", 1, "Wien|W|1###|1", "Graz|ST|80##|316", "Linz|OÖ|40##|732"),
        3,
    ),
    _Country(
        "CH", (("de", 6), ("fr", 4)), "EUR", Decimal("8.1"), "DACH", ".ch",
        "+41 {area} ### ## ##", "+41 79 ### ## ##",
        _cities("Europe/Zurich", 1, "Zürich|ZH|80##|44", "Genève|GE|12##|22", "Basel|BS|40##|61"),
        4,
    ),
    _Country(
        "FR", (("fr", 1),), "EUR", Decimal("20"), "France & Benelux", ".fr",
        "+33 {area} ## ## ## ##", "+33 6 ## ## ## ##",
        _cities(
            "Europe/Paris", 1,
            "Paris|IDF|750##|1", "Lyon|ARA|6900#|4", "Toulouse|OCC|31###|5", "Lille|HDF|59###|3",
            "Nantes|PDL|44###|2",
        ),
        10,
    ),
    _Country(
        "BE", (("fr", 1),), "EUR", Decimal("21"), "France & Benelux", ".be",
        "+32 {area} ### ## ##", "+32 47# ## ## ##",
        _cities("Europe/Brussels", 1, "Bruxelles|BRU|10##|2", "Liège|WAL|40##|4"),
        3,
    ),
    _Country(
        "ES", (("es", 1),), "EUR", Decimal("21"), "Iberia", ".es",
        "+34 {area} ### ## ##", "+34 6## ### ###",
        _cities(
            "Europe/Madrid", 1,
            "Madrid|MD|280##|91", "Barcelona|CT|080##|93", "Valencia|VC|460##|96",
            "Sevilla|AN|410##|95",
        ),
        6,
    ),
    _Country(
        "CN", (("zh", 1),), "USD", Decimal("13"), "Greater China", ".cn",
        "+86 {area} #### ####", "+86 13# #### ####",
        _cities(
            "Asia/Shanghai", 8,
            "深圳|广东|518###|755", "上海|上海|200###|21", "北京|北京|100###|10",
            "广州|广东|510###|20", "杭州|浙江|310###|571", "成都|四川|610###|28",
        ),
        14,
    ),
    _Country(
        "TW", (("zh", 1),), "USD", Decimal("5"), "Greater China", ".com.tw",
        "+886 {area} #### ####", "+886 9## ### ###",
        _cities("Asia/Taipei", 8, "台北|台北市|1##|2", "新竹|新竹市|300|3", "台中|台中市|4##|4"),
        3,
    ),
    _Country(
        "JP", (("ja", 1),), "JPY", Decimal("10"), "Japan", ".co.jp",
        "+81 {area}-####-####", "+81 90-####-####",
        _cities(
            "Asia/Tokyo", 9,
            "東京|東京都|100-####|3", "大阪|大阪府|530-####|6", "名古屋|愛知県|450-####|52",
            "福岡|福岡県|812-####|92", "横浜|神奈川県|220-####|45",
        ),
        9,
    ),
    _Country(
        "KR", (("ko", 1),), "USD", Decimal("10"), "Korea", ".co.kr",
        "+82 {area}-###-####", "+82 10-####-####",
        _cities("Asia/Seoul", 9, "서울|서울특별시|0####|2", "부산|부산광역시|4####|51", "인천|인천광역시|2####|32"),
        5,
    ),
)  # fmt: skip

_INDUSTRIES = (
    "Manufacturing",
    "Logistics",
    "Retail",
    "Healthcare",
    "Energy",
    "Food & Beverage",
    "Automotive",
    "Pharmaceuticals",
    "Construction",
    "Software",
    "Telecommunications",
    "Agriculture",
)

# Company name parts per language; CJK parts carry a romanisation for the web domain.
_EN_BRAND_A = _latin(
    "North Blue Summit Pioneer Atlas Ever Silver Harbor Granite Bright Liberty Pacific Iron "
    "Cedar Key Frontier Union Red Lake Sterling"
)
_EN_BRAND_B = _latin("wind stone bridge field wood gate view crest point line")
_EN_KIND = (
    "Logistics",
    "Manufacturing",
    "Foods",
    "Health",
    "Energy",
    "Systems",
    "Analytics",
    "Motors",
    "Retail",
    "Builders",
    "Labs",
    "Networks",
    "Freight",
    "Pharma",
    "Supply",
)
_EN_SUFFIX = ("Inc.", "LLC", "Corp.", "Group", "Co.", "Ltd.")
_DE_BRAND = _latin("Rhein Alpen Nord Isar Elb Spree Donau Harz Taunus Eifel Main Weser")
_DE_BRAND_B = ("tec", "werk", "plan", "log", "med", "bau", "tronic", "data")
_DE_KIND = (
    "Maschinenbau",
    "Logistik",
    "Elektronik",
    "Medizintechnik",
    "Anlagenbau",
    "Lebensmittel",
    "Fahrzeugtechnik",
    "Energietechnik",
    "Bauunternehmung",
    "Kühltransporte",
)
_DE_SUFFIX = ("GmbH", "AG", "GmbH & Co. KG", "SE")
_FR_BRAND = _latin(
    "Lumière Horizon Étoile Atlantique Provence Alpes Seine Loire Azur Mistral Océane"
)
_FR_KIND = (
    "Industries",
    "Logistique",
    "Santé",
    "Énergie",
    "Distribution",
    "Informatique",
    "Bâtiment",
    "Alimentaire",
    "Transports",
)
_FR_SUFFIX = ("SA", "SAS", "SARL")
_ES_PREFIX = ("Grupo", "Industrias", "Compañía", "Transportes")
_ES_BRAND = _latin("Ibérica Sol Mediterráneo Atlántico Andaluza Castilla Levante Sierra Norte")
_ES_KIND = (
    "Logística",
    "Alimentación",
    "Energía",
    "Construcciones",
    "Tecnología",
    "Farmacéutica",
    "Distribución",
)
_ES_SUFFIX = ("S.A.", "S.L.")
_ZH_BRAND = _pairs(
    "腾飞:tengfei 华兴:huaxing 鼎盛:dingsheng 宏达:hongda 新源:xinyuan 恒通:hengtong "
    "远航:yuanhang 金桥:jinqiao 东方:dongfang 创新:chuangxin 瑞丰:ruifeng 天成:tiancheng "
    "嘉禾:jiahe 博远:boyuan 中科:zhongke 海纳:haina"
)
_ZH_KIND = _pairs(
    "科技:tech 电子:electronics 物流:logistics 医药:pharma 能源:energy 机械:machinery "
    "贸易:trading 软件:software 食品:foods 建设:construction 汽车零部件:autoparts"
)
_JA_BRAND = _pairs(
    "山田:yamada 東邦:toho 日本:nihon 大和:yamato 富士:fuji 三和:sanwa 北斗:hokuto "
    "昭和:showa 中央:chuo 青葉:aoba 朝日:asahi さくら:sakura"
)
_JA_KIND = _pairs(
    "製作所:seisakusho 電機:denki 物流:butsuryu 精機:seiki 薬品:yakuhin 商事:shoji "
    "システム:system 建設:kensetsu 食品:shokuhin 工業:kogyo"
)
_KO_BRAND = _pairs(
    "한빛:hanbit 대한:daehan 미래:mirae 새한:saehan 동양:dongyang 삼진:samjin 우리:woori "
    "세종:sejong 한울:hanul 푸른:pureun"
)
_KO_KIND = _pairs(
    "전자:electronics 물류:logistics 건설:construction 제약:pharm 에너지:energy "
    "시스템:systems 식품:foods 정밀:precision"
)

_STREETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("Market", "Main", "Oak", "Maple", "Lake", "Hill", "Park", "Pine", "Harbor", "Lincoln"),
        ("Street", "Avenue", "Road", "Boulevard", "Drive"),
    ),
    "de": (
        ("Haupt", "Bahnhof", "Garten", "Schiller", "Goethe", "Linden", "Berg", "Mühlen", "Wald"),
        ("straße", "weg", "allee", "ring"),
    ),
    "fr": (
        ("rue", "avenue", "boulevard"),
        ("de la Paix", "Victor Hugo", "de la République", "des Lilas", "Jean Jaurès", "Foch"),
    ),
    "es": (
        ("Calle", "Avenida", "Paseo"),
        ("Mayor", "de Alcalá", "de la Castellana", "del Prado", "de Goya", "Real", "de Cervantes"),
    ),
    "zh": (("深南大道", "南京路", "中山路", "建国路", "人民路", "解放路", "淮海中路"),),
    "ja": (("丸の内", "西新宿", "梅田", "栄", "博多駅前", "六本木", "大手町"),),
    "ko": (("테헤란로", "세종대로", "강남대로", "을지로", "해운대로", "올림픽로"),),
}


@dataclass(frozen=True)
class _ProductSpec:
    code: str
    name: str
    unit: str
    usd: int
    quantity: tuple[int, int]
    active: bool = True


_PRODUCTS: tuple[_ProductSpec, ...] = (
    _ProductSpec("SEN-T100", "Temperature Sensor T100", "pcs", 49, (10, 400)),
    _ProductSpec("SEN-V200", "Vibration Sensor V200", "pcs", 129, (5, 200)),
    _ProductSpec("SEN-P300", "Pressure Sensor P300", "pcs", 89, (5, 200)),
    _ProductSpec("SEN-GPS1", "GPS Tracker G1", "pcs", 79, (10, 500)),
    _ProductSpec("GW-EDGE2", "Edge Gateway EG-2", "pcs", 690, (1, 40)),
    _ProductSpec("GW-EDGE5", "Industrial Gateway EG-5 (5G)", "pcs", 1450, (1, 20)),
    _ProductSpec("TEL-FT100", "FleetTrack Telematics Unit", "pcs", 320, (10, 300)),
    _ProductSpec("TEL-DC4", "Dashcam DC-4 with driver assist", "pcs", 410, (10, 200)),
    _ProductSpec("LIC-FLEET", "FleetTrack Cloud, per vehicle and year", "licence", 180, (10, 500)),
    _ProductSpec("LIC-PLANT", "PlantView Monitoring, per site and year", "licence", 12000, (1, 8)),
    _ProductSpec("LIC-ANLY", "Analytics Add-on, per user and year", "licence", 960, (3, 60)),
    _ProductSpec("LIC-API", "API Access, per year", "licence", 4800, (1, 1)),
    _ProductSpec("SVC-INST", "Installation, per day", "day", 1250, (1, 20)),
    _ProductSpec("SVC-TRAIN", "On-site Training, per day", "day", 1600, (1, 5)),
    _ProductSpec("SVC-CONS", "Consulting, per hour", "hour", 195, (8, 120)),
    _ProductSpec("SVC-SUP-STD", "Standard Support, per year", "year", 2400, (1, 3)),
    _ProductSpec("SVC-SUP-PRE", "Premium Support 24/7, per year", "year", 7200, (1, 3)),
    _ProductSpec("HW-KIT10", "Starter Kit (10 sensors and a gateway)", "pcs", 1190, (1, 10)),
    _ProductSpec("HW-MOUNT", "Mounting Set", "pcs", 35, (10, 300)),
    _ProductSpec("HW-BATT", "Spare Battery Pack", "pcs", 22, (10, 300)),
    _ProductSpec("GW-EDGE1", "Edge Gateway EG-1 (discontinued)", "pcs", 490, (1, 10), False),
)
_RATES = {"USD": Decimal(1), "EUR": Decimal("0.92"), "JPY": Decimal(150)}
#: Prices are rounded to a "list price" step: whole euros, hundreds of yen.
_PRICE_STEP = {"USD": Decimal(1), "EUR": Decimal(1), "JPY": Decimal(100)}

_STAGE_WEIGHTS = {
    "Prospecting": 14,
    "Qualification": 14,
    "Needs Analysis": 12,
    "Proposal": 11,
    "Negotiation": 8,
    "Closed Won": 22,
    "Closed Lost": 19,
}
_THEMES = (
    "fleet telematics",
    "plant monitoring",
    "cold-chain sensors",
    "predictive maintenance",
    "analytics platform",
    "support contract",
    "asset tracking",
)
_COMPETITORS = (
    "Samsara",
    "Geotab",
    "Siemens",
    "Bosch",
    "Hitachi",
    "Huawei",
    "Honeywell",
    "Teletrac Navman",
    "in-house build",
)
_NEXT_STEPS = (
    "Send revised quote",
    "Schedule a product demo",
    "Technical workshop with IT",
    "Call procurement about terms",
    "Site visit",
    "Reference call with an existing customer",
    "Legal review of the contract",
    "Pilot installation",
)
_LOSS_REASONS = (
    "Price too high",
    "Lost to competitor",
    "No budget this year",
    "Project cancelled",
    "Decided to build in-house",
    "Postponed to next fiscal year",
    "Missing integration with their ERP",
)
_LESSONS = (
    "Engage procurement earlier; they were not in the buying centre until the end.",
    "Our pilot ran too long; propose a fixed four-week pilot next time.",
    "The competitor bundled hardware at cost; lead with total cost of ownership.",
    "We never met the economic buyer.",
    "Localised documentation was asked for and we had none.",
)
_LEAD_SOURCES = (
    "Web form",
    "Trade show",
    "Referral",
    "Cold call",
    "Partner",
    "Webinar",
    "LinkedIn",
    "Existing customer",
)
_CAMPAIGNS = (
    "Hannover Messe 2026",
    "CES 2026",
    "Spring Webinar Series 2026",
    "Q3 Newsletter 2026",
    "Partner Summit Tokyo 2026",
    "China International Import Expo 2026",
    "Cold-chain White Paper",
)
_OUTCOMES = (
    "Interested, asked for a quote",
    "Left a voicemail",
    "Budget confirmed for next quarter",
    "Needs approval from the CFO",
    "Not a priority right now",
    "Asked for customer references",
    "Agreed on next steps",
    "Wants a pilot first",
)
_ACCOUNT_NOTES = (
    "Key account: quarterly business reviews with the management.",
    "Framework agreement until end of 2027.",
    "Pays late; check credit before large orders.",
    "Head office decides; local sites only give input.",
    "Prefers communication in their own language.",
)
_CREDIT_GRADES = ("AAA", "AA", "A", "BBB", "BB", "B")
_GRADES = tuple(Grade)
_PURCHASETYPES = tuple(PurchaseType)
_BUYINGROLES = tuple(BuyingRole)
_ATTITUDES = tuple(Attitude)
_INFLUENCES = tuple(Influence)
_PRIORITIES = tuple(Priority)


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class DemoSummary:
    """What was generated: rows per entity type, and the rep the profile should work as."""

    counts: dict[str, int]
    current_user_id: uuid.UUID
    current_username: str
    indexed: int


class DemoDataError(ServiceError):
    """Demo data cannot be generated here (for example: the store already holds data)."""


# --------------------------------------------------------------------------------------------
# Machinery: deterministic ids and buffered Core inserts


class _Ids:
    """UUIDv7-shaped ids from a seeded stream: 48-bit creation time in ms, version 7, 74 bits
    of seeded randomness, RFC 4122 variant. Same seed, same ids; sorted like real UUIDv7."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"field-crm-demo-ids:{seed}")

    def __call__(self, created_at: datetime) -> uuid.UUID:
        # Exact: every generated time is a whole second (or minute), so the float holds it.
        ms = round(created_at.timestamp() * 1000)
        rand = self._rng.getrandbits(74)
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | (rand >> 62) << 64
            | 0b10 << 62
            | (rand & 0x3FFF_FFFF_FFFF_FFFF)
        )
        return uuid.UUID(int=value)


def _db_datetime(value: datetime) -> str:
    # What UTCDateTime + SQLite's DATETIME store: naive UTC, microseconds always written (the
    # stored text is compared as text, so the format must never vary).
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _db_value_converters(table: Table, dialect: Any) -> list[Callable[[Any], Any] | None]:
    """Per column, a function turning a Python value into what SQLite stores, as SQLAlchemy's own
    bind processing would (a test holds them equal), but without its per-row machinery, which
    costs as much as SQLite's insert itself at this volume. ``None`` means "store as is"."""
    converters: list[Callable[[Any], Any] | None] = []
    for column in table.c:
        kind = column.type
        if isinstance(kind, UTCDateTime):
            converters.append(_db_datetime)
        elif isinstance(kind, Money):
            converters.append(lambda v: format(Decimal(v), "f"))
        elif isinstance(kind, Uuid):
            converters.append(lambda v: v.hex)
        elif isinstance(kind, Enum):
            converters.append(lambda v: v.value)
        elif isinstance(kind, Boolean):
            converters.append(int)
        elif isinstance(kind, Date):
            converters.append(lambda v: v.isoformat())
        elif isinstance(kind, String | Integer):
            converters.append(None)
        else:  # anything new: SQLAlchemy's own processor, slower but right
            converters.append(kind._cached_bind_processor(dialect))
    return converters


class _Writer:
    """Row buffers per table, written with one ``executemany`` per table and flush, in
    foreign-key dependency order."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        table_names = {cls.__table__.name for cls in ENTITIES.values()}  # type: ignore[attr-defined]
        self.tables: dict[str, Table] = {
            t.name: t for t in Base.metadata.sorted_tables if t.name in table_names
        }
        self.templates: dict[str, dict[str, Any]] = {}
        for name, table in self.tables.items():
            template: dict[str, Any] = {}
            for column in table.c:
                default = column.default
                template[column.key] = (
                    default.arg if default is not None and default.is_scalar else None  # type: ignore[attr-defined]
                )
            self.templates[name] = template
        self.buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in self.tables}
        dialect = connection.dialect
        self.converters = {
            name: list(zip(table.c.keys(), _db_value_converters(table, dialect), strict=True))
            for name, table in self.tables.items()
        }
        self.statements = {
            name: 'INSERT INTO "{}" ({}) VALUES ({})'.format(
                name,
                ", ".join(f'"{c.name}"' for c in table.c),
                ", ".join("?" for _ in table.c),
            )
            for name, table in self.tables.items()
        }
        self.counts: dict[str, int] = dict.fromkeys(self.tables, 0)
        self.pending = 0

    def add(self, table: str, values: dict[str, Any]) -> None:
        """Buffer one row; ``values`` must name columns only (defaults fill the rest)."""
        template = self.templates[table]
        if not values.keys() <= template.keys():
            raise KeyError(f"{table}: unknown columns {sorted(values.keys() - template.keys())}")
        row = dict(template)
        row.update(values)
        self.buffers[table].append(row)
        self.pending += 1

    def flush_if_full(self) -> None:
        """Write the buffers if they are big; call only between two whole aggregates (a company
        with everything hanging off it), where no buffered row points at one not yet added."""
        if self.pending >= _FLUSH_ROWS:
            self.flush()

    def __enter__(self) -> _Writer:
        # A 100k-contact store is ~300 MB with a dozen indexes per table; random-order UUIDs
        # touch pages all over each index, and the default 32 MB page cache then thrashes.
        # A larger cache for the bulk load alone roughly halves the insert time.
        self._cache_size = self.connection.exec_driver_sql("PRAGMA cache_size").scalar()
        self.connection.exec_driver_sql(f"PRAGMA cache_size = {-_BULK_CACHE_KIB}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.exec_driver_sql(f"PRAGMA cache_size = {int(self._cache_size or -2000)}")

    def flush(self) -> None:
        """Write every buffer, parents first, so immediate foreign-key checks pass."""
        for name, rows in self.buffers.items():
            if rows:
                # Column by column: two flat list comprehensions per column are several times
                # faster than a generator per row, and this is half the cost of a flush.
                columns: list[list[Any]] = []
                for key, convert in self.converters[name]:
                    values = [row[key] for row in rows]
                    if convert is not None:
                        values = [None if v is None else convert(v) for v in values]
                    columns.append(values)
                self.connection.exec_driver_sql(
                    self.statements[name], list(zip(*columns, strict=True))
                )
                self.counts[name] += len(rows)
                rows.clear()
        self.pending = 0

    def set_column(self, table: str, column: str, values: Sequence[tuple[uuid.UUID, Any]]) -> None:
        """Set one column of already written rows (closes reference cycles after the inserts)."""
        if not values:
            return
        target = self.tables[table]
        stmt = (
            update(target)
            .where(target.c.id == bindparam("row_id"))
            # updated_at = itself: otherwise its onupdate would stamp the clock time, and two
            # runs with the same seed would differ.
            .values({column: bindparam("new_value"), "updated_at": target.c.updated_at})
        )
        self.connection.execute(stmt, [{"row_id": i, "new_value": v} for i, v in values])


# --------------------------------------------------------------------------------------------
# The generator


@dataclass
class _Person:
    """A generated name with what an e-mail address and display need."""

    first: str
    last: str
    full: str
    email_local: str
    language: str


@dataclass
class _AccountInfo:
    """What later steps need to know about a generated account (kept small for 100k runs)."""

    id: uuid.UUID
    name: str
    country: _Country
    city: _City
    domain: str
    owner_id: uuid.UUID
    created_at: datetime
    industry: str | None
    contact_ids: list[uuid.UUID] = field(default_factory=list)
    contacts: list[tuple[uuid.UUID, _Person, str | None, str | None]] = field(default_factory=list)


@dataclass
class _Conversion:
    """A company that came from a lead: the lead is written later, the back links at the end."""

    lead_id: uuid.UUID
    lead_created: datetime
    account: _AccountInfo
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None


class _Generator:
    """One run of the generator over one connection (see :func:`generate`)."""

    def __init__(self, session: Session, contacts: int, seed: int, today: date) -> None:
        self.session = session
        self.total_contacts = contacts
        self.rng = random.Random(seed)
        self.ids = _Ids(seed)
        self.today = today
        # Mid-morning UTC: "now" for every relative timestamp.
        self.now = datetime.combine(today, time(9, 30), UTC)
        self.writer = _Writer(session.connection())
        self.domains: dict[str, int] = {}
        self.emails: dict[str, int] = {}
        self.quote_seq = 0
        self.order_seq = 0
        self.conversions: list[_Conversion] = []
        self.country_weights = [c.weight for c in _COUNTRIES]
        self._cumulative: dict[int, tuple[Sequence[float], list[float]]] = {}
        # Per country: its languages and their weights, as sequences that live as long as we do.
        self.languages = {
            c.code: ([code for code, _ in c.languages], [w for _, w in c.languages])
            for c in _COUNTRIES
        }
        self.stage_names = list(_STAGE_WEIGHTS)
        self.stage_weights = list(_STAGE_WEIGHTS.values())

    # -- small helpers ------------------------------------------------------------------------

    def weighted(self, items: Sequence[T], weights: Sequence[float]) -> T:
        """One of ``items``, by relative ``weights`` (``random.choices`` for one item, without
        its per-call set-up: the cumulative weights are kept per weights object)."""
        cached = self._cumulative.get(id(weights))
        if cached is None or cached[0] is not weights:
            # The weights object stays referenced here, so its id cannot be reused meanwhile.
            cached = self._cumulative[id(weights)] = (weights, list(accumulate(weights)))
        cumulative = cached[1]
        return items[bisect(cumulative, self.rng.random() * cumulative[-1])]

    def pick(self, items: Sequence[T]) -> T:
        # random() is one C call; randrange() costs several Python frames, and this runs
        # millions of times for 100k contacts.
        return items[int(self.rng.random() * len(items))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def digits(self, pattern: str) -> str:
        """Replace each ``#`` with a random digit and each ``%`` with one from 2 to 9
        (one RNG call for all the ``#`` of a pattern: this runs for every phone number)."""
        count = pattern.count("#")
        if not count and "%" not in pattern:
            return pattern
        number = f"{self.rng.randrange(10**count):0{count}d}"
        out: list[str] = []
        i = 0
        for char in pattern:
            if char == "#":
                out.append(number[i])
                i += 1
            elif char == "%":
                out.append(str(self.rng.randrange(2, 10)))
            else:
                out.append(char)
        return "".join(out)

    def between(self, start: datetime, end: datetime) -> datetime:
        """A whole-second instant in [start, end] (start if the range is empty)."""
        span = int((end - start).total_seconds())
        if span <= 0:
            return start
        return start + timedelta(seconds=int(self.rng.random() * (span + 1)))

    def ago(self, max_days: float, min_days: float = 0) -> datetime:
        return self.between(self.now - max_days * _DAY, self.now - min_days * _DAY)

    def local(self, day: date, city: _City, hour_range: tuple[int, int] = (8, 17)) -> datetime:
        """A business-hours time on ``day`` in the city's zone, as UTC."""
        hour = self.rng.randrange(*hour_range)
        minute = self.pick((0, 0, 15, 30, 30, 45))
        return datetime.combine(day, time(hour, minute), UTC) - timedelta(hours=city.utc_offset)

    def stamps(self, created: datetime) -> dict[str, Any]:
        """id, created_at and a plausible later updated_at (never after now)."""
        updated = self.between(created, self.now) if self.chance(0.4) else created
        return {"id": self.ids(created), "created_at": created, "updated_at": updated}

    def unique(self, seen: dict[str, int], base: str, make: Callable[[int], str]) -> str:
        n = seen.get(base, 0) + 1
        seen[base] = n
        return base if n == 1 else make(n)

    def phone(self, country: _Country, city: _City, mobile: bool = False) -> str:
        return self.digits((country.mobile if mobile else country.phone).format(area=city.area))

    def person(self, language_code: str) -> _Person:
        lang = _LANGUAGES[language_code]
        given, given_roman = self.pick(lang.given)
        family, family_roman = self.pick(lang.family)
        if language_code == "es" and self.chance(0.35):
            # Spanish names often carry both surnames.
            second, second_roman = self.pick(lang.family)
            family, family_roman = f"{family} {second}", f"{family_roman}-{second_roman}"
        # CJK names: family name first, in native script; others: given name first.
        full = f"{family}{lang.separator}{given}" if lang.family_first else f"{given} {family}"
        local = (
            f"{given_roman}.{family_roman}" if self.chance(0.8) else given_roman[0] + family_roman
        )
        return _Person(given, family, full, local.replace("'", ""), language_code)

    def email(self, local: str, domain: str) -> str:
        address = f"{local}@{domain}"
        return self.unique(self.emails, address, lambda n: f"{local}{n}@{domain}")

    def street(self, language: str) -> str:
        parts = _STREETS[language]
        number = self.rng.randrange(1, 240)
        if language == "en":
            return f"{number} {self.pick(parts[0])} {self.pick(parts[1])}"
        if language == "de":
            return f"{self.pick(parts[0])}{self.pick(parts[1])} {number}"
        if language == "fr":
            return f"{number} {self.pick(parts[0])} {self.pick(parts[1])}"
        if language == "es":
            return f"{self.pick(parts[0])} {self.pick(parts[1])} {number}"
        if language == "zh":
            return f"{self.pick(parts[0])}{number}号"
        if language == "ja":
            return f"{self.pick(parts[0])}{self.rng.randrange(1, 9)}-{self.rng.randrange(1, 20)}-{number % 30 + 1}"
        return f"{self.pick(parts[0])} {number}"

    def company_name(self, language: str, city: _City, country: _Country) -> tuple[str, str]:
        """(display name, ASCII stem for the web domain)."""
        if language == "de":
            if self.chance(0.4):
                brand, roman = self.pick(_LANGUAGES["de"].family)  # a family firm
            else:
                (stem, stem_roman), ending = self.pick(_DE_BRAND), self.pick(_DE_BRAND_B)
                brand, roman = stem + ending, stem_roman + ending
            kind = self.pick(_DE_KIND)
            return f"{brand} {kind} {self.pick(_DE_SUFFIX)}", f"{roman}-{fold(kind)}"
        if language == "fr":
            brand, roman = (
                self.pick(_LANGUAGES["fr"].family) if self.chance(0.4) else self.pick(_FR_BRAND)
            )
            kind = self.pick(_FR_KIND)
            return f"{brand} {kind} {self.pick(_FR_SUFFIX)}", f"{roman}-{fold(kind)}"
        if language == "es":
            brand, roman = (
                self.pick(_LANGUAGES["es"].family) if self.chance(0.4) else self.pick(_ES_BRAND)
            )
            kind = self.pick(_ES_KIND)
            suffix = "S.A. de C.V." if country.code == "MX" else self.pick(_ES_SUFFIX)
            prefix = self.pick(_ES_PREFIX)
            return f"{prefix} {brand} {kind} {suffix}", f"{fold(prefix)}-{roman}"
        if language == "zh":
            (brand, roman), (kind, kind_roman) = self.pick(_ZH_BRAND), self.pick(_ZH_KIND)
            form = "股份有限公司" if self.chance(0.3) else "有限公司"
            return f"{city.name}{brand}{kind}{form}", f"{roman}-{kind_roman}"
        if language == "ja":
            (brand, roman), (kind, kind_roman) = self.pick(_JA_BRAND), self.pick(_JA_KIND)
            if self.chance(0.5):
                return f"株式会社{brand}{kind}", f"{roman}-{kind_roman}"
            return f"{brand}{kind}株式会社", f"{roman}{kind_roman}"
        if language == "ko":
            (brand, roman), (kind, kind_roman) = self.pick(_KO_BRAND), self.pick(_KO_KIND)
            if self.chance(0.5):
                return f"{brand}{kind} 주식회사", f"{roman}-{kind_roman}"
            return f"(주){brand}{kind}", f"{roman}{kind_roman}"
        a, a_roman = self.pick(_EN_BRAND_A)
        b, b_roman = self.pick(_EN_BRAND_B)
        kind = self.pick(_EN_KIND)
        return f"{a}{b} {kind} {self.pick(_EN_SUFFIX)}", f"{a_roman}{b_roman}-{fold(kind)}"

    def domain(self, stem: str, country: _Country) -> str:
        base = f"{stem}{country.tld}"
        return self.unique(self.domains, base, lambda n: f"{stem}{n}{country.tld}")

    def company_language(self, country: _Country) -> str:
        """The language a company there is named in: official languages only (a US firm is not
        an "S.L." even if some of its staff speak Spanish)."""
        if country.code == "US":
            return "en"
        return self.weighted(*self.languages[country.code])

    def language_of(self, country: _Country) -> str:
        if self.chance(0.08):  # expats and international staff
            return self.pick(_LANGUAGE_CODES)
        return self.weighted(*self.languages[country.code])

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> DemoSummary:
        session = self.session
        seeded_here = not session.scalar(select(func.count()).select_from(SalesStage))
        stages = ensure_default_stages(session=session)
        if seeded_here:
            # The default stages' ids are fixed by name; their stamps must not be "now" either,
            # or two runs would differ. Stages that were already there keep their history.
            for stage in stages:
                stage.created_at = stage.updated_at = self.now - 1200 * _DAY
            session.flush()
        self.stages = {s.name: s for s in stages}
        missing = [name for name in _STAGE_WEIGHTS if name not in self.stages]
        if missing:
            raise DemoDataError(
                f"the store's sales stages are customised (no {', '.join(missing)});"
                " demo data needs the default stages"
            )
        with self.writer:
            self.make_users()
            self.make_catalog()
            self.make_quotas()
            self.make_customers()
            self.make_leads()
            self.writer.flush()
            self.close_cycles()
            indexed = search.reindex(self.writer.connection)
        counts = {"sales_stage": len(stages)}
        counts.update({name: n for name, n in self.writer.counts.items() if n})
        return DemoSummary(
            counts={name: counts[name] for name in self.writer.tables if name in counts},
            current_user_id=self.current_user_id,
            current_username=self.current_username,
            indexed=indexed,
        )

    def make_users(self) -> None:
        start = self.now - 1300 * _DAY
        team_id = self.ids(start)
        self.team_id = team_id
        self.writer.add(
            "team",
            {"id": team_id, "name": "Field Sales", "created_at": start, "updated_at": start},
        )
        people = (
            ("admin", "Priya Natarajan", Role.ADMIN),
            ("mgarcia", "María García", Role.MANAGER),
            ("dchen", "Daniel Chen", Role.REP),
            ("hmueller", "Hannah Müller", Role.REP),
            ("wanglei", "王磊", Role.REP),
            ("ysato", "佐藤 由美", Role.REP),
        )
        ids: dict[str, uuid.UUID] = {}
        for offset, (username, full_name, role) in enumerate(people):
            created = start + offset * timedelta(minutes=7)
            ids[username] = self.ids(created)
            self.writer.add(
                "user",
                {
                    "id": ids[username],
                    "username": username,
                    "full_name": full_name,
                    "email": f"{username}@fieldcrm.example",
                    "role": role,
                    "manager_id": ids["mgarcia"] if role is Role.REP else None,
                    "team_id": team_id if role is not Role.ADMIN else None,
                    "active": True,
                    "created_at": created,
                    "updated_at": created,
                },
            )
        self.manager_id = ids["mgarcia"]
        self.reps = [ids["dchen"], ids["hmueller"], ids["wanglei"], ids["ysato"]]
        self.current_user_id = ids["dchen"]
        self.current_username = "dchen"
        # Territories: who owns new business where.
        self.territory = {
            "North America": ids["dchen"],
            "Latin America": ids["dchen"],
            "DACH": ids["hmueller"],
            "France & Benelux": ids["hmueller"],
            "Iberia": ids["hmueller"],
            "Greater China": ids["wanglei"],
            "Korea": ids["wanglei"],
            "Japan": ids["ysato"],
        }

    def owner_for(self, country: _Country) -> uuid.UUID:
        if self.chance(0.08):
            return self.manager_id  # the manager keeps a few key accounts
        if self.chance(0.05):
            return self.pick(self.reps)
        return self.territory[country.region]

    def make_catalog(self) -> None:
        start = self.now - 1250 * _DAY
        self.products: list[tuple[uuid.UUID, _ProductSpec]] = []
        for i, spec in enumerate(_PRODUCTS):
            created = start + i * timedelta(minutes=3)
            product_id = self.ids(created)
            self.products.append((product_id, spec))
            self.writer.add(
                "product",
                {
                    "id": product_id,
                    "code": spec.code,
                    "name": spec.name,
                    "description": f"{spec.name}. Sold per {spec.unit}.",
                    "unit": spec.unit,
                    "active": spec.active,
                    "default_tax_rate": Decimal("0"),
                    "created_at": created,
                    "updated_at": created,
                },
            )
        self.active_products = [(i, s) for i, s in self.products if s.active]
        year = self.today.year
        self.price_lists: dict[str, uuid.UUID] = {}
        self.prices: dict[tuple[str, uuid.UUID], Decimal] = {}
        lists = [
            (f"Standard USD {year - 1}", "USD", year - 1, False, Decimal("0.95")),
            (f"Standard USD {year}", "USD", year, True, Decimal(1)),
            (f"Standard EUR {year}", "EUR", year, True, Decimal(1)),
            (f"Standard JPY {year}", "JPY", year, True, Decimal(1)),
        ]
        for n, (name, currency, list_year, active, factor) in enumerate(lists):
            created = datetime(list_year - 1, 12, 1, 9, tzinfo=UTC) + n * timedelta(minutes=5)
            created = min(created, self.now)
            list_id = self.ids(created)
            if active:
                self.price_lists[currency] = list_id
            self.writer.add(
                "price_list",
                {
                    "id": list_id,
                    "name": name,
                    "currency": currency,
                    "valid_from": date(list_year, 1, 1),
                    "valid_to": date(list_year, 12, 31),
                    "active": active,
                    "created_at": created,
                    "updated_at": created,
                },
            )
            for product_id, spec in self.products:
                step = _PRICE_STEP[currency]
                raw = Decimal(spec.usd) * _RATES[currency] * factor
                price = round_money((raw / step).quantize(Decimal(1)) * step, currency)
                if active:
                    self.prices[(currency, product_id)] = price
                self.writer.add(
                    "price",
                    {
                        **self.stamps(created),
                        "price_list_id": list_id,
                        "product_id": product_id,
                        "unit_price": price,
                    },
                )

    def make_quotas(self) -> None:
        # Quarterly quotas: last four quarters, this one and the next, for reps and the manager.
        quarter_start = date(self.today.year, 3 * ((self.today.month - 1) // 3) + 1, 1)
        quarters: list[date] = []
        for shift in range(-4, 2):
            month_index = quarter_start.year * 12 + quarter_start.month - 1 + 3 * shift
            quarters.append(date(month_index // 12, month_index % 12 + 1, 1))
        for start in quarters:
            end_index = start.year * 12 + start.month - 1 + 3
            end = date(end_index // 12, end_index % 12 + 1, 1) - _DAY
            created = min(datetime.combine(start, time(8), UTC) - 20 * _DAY, self.now)
            team_total = Decimal(0)
            for rep in self.reps:
                amount = Decimal(self.rng.randrange(25, 45) * 10_000)
                team_total += amount
                self.writer.add(
                    "quota",
                    {
                        **self.stamps(created),
                        "user_id": rep,
                        "period_start": start,
                        "period_end": end,
                        "amount": round_money(amount, "USD"),
                        "currency": "USD",
                    },
                )
            self.writer.add(
                "quota",
                {
                    **self.stamps(created),
                    "user_id": self.manager_id,
                    "period_start": start,
                    "period_end": end,
                    "amount": round_money(team_total, "USD"),
                    "currency": "USD",
                },
            )

    # -- accounts, contacts and everything hanging off them -----------------------------------

    def make_customers(self) -> None:
        total = self.total_contacts
        standalone = round(total * 0.03)
        individuals = round(total * 0.02)
        company_contacts = total - standalone - individuals
        self.all_company_contacts: list[tuple[uuid.UUID, int]] = []  # (contact, company index)
        self.companies: list[_AccountInfo] = []
        parents_by_country: dict[str, list[uuid.UUID]] = {}
        sizes = (1, 2, 2, 3, 3, 4, 4, 5, 6, 8)
        self.opportunity_count = 0
        while company_contacts > 0:
            size = min(self.pick(sizes), company_contacts)
            company_contacts -= size
            self.make_company(size, parents_by_country)
            self.writer.flush_if_full()
        for _ in range(individuals):
            self.make_individual_customer()
            self.writer.flush_if_full()
        for _ in range(standalone):
            self.make_standalone_contact()
            self.writer.flush_if_full()
        self.make_second_jobs()
        # Leads point at accounts, contacts and opportunities: those must be in the table first.
        self.writer.flush()

    def make_company(self, size: int, parents_by_country: dict[str, list[uuid.UUID]]) -> None:
        country = self.weighted(_COUNTRIES, self.country_weights)
        city = self.pick(country.cities)
        language = self.company_language(country)
        name, stem = self.company_name(language, city, country)
        domain = self.domain(stem, country)
        created = self.ago(1150, 20)
        stamps = self.stamps(created)
        account_id = stamps["id"]
        owner = self.owner_for(country)
        status = self.weighted(
            (AccountStatus.ACTIVE, AccountStatus.PROSPECT, AccountStatus.INACTIVE), (55, 35, 10)
        )
        siblings = parents_by_country.setdefault(country.code, [])
        parent_id = self.pick(siblings) if siblings and self.chance(0.08) else None
        if parent_id is None and len(siblings) < 50:
            siblings.append(account_id)  # a few per country become groups with subsidiaries
        industry = self.pick(_INDUSTRIES)
        self.writer.add(
            "account",
            {
                **stamps,
                "name": name,
                "kind": AccountKind.COMPANY,
                "industry": industry,
                "region": country.region,
                "status": status,
                "customer_grade": (
                    self.weighted(_GRADES, (2, 4, 3, 1))
                    if status is not AccountStatus.PROSPECT or self.chance(0.3)
                    else None
                ),
                "credit_grade": self.pick(_CREDIT_GRADES) if self.chance(0.7) else None,
                "credit_limit": (
                    round_money(
                        Decimal(self.pick((10, 25, 50, 100, 250, 500)) * 1000)
                        * _RATES.get(country.currency, Decimal(1)),
                        country.currency,
                    )
                    if status is AccountStatus.ACTIVE
                    else None
                ),
                "owner_id": owner,
                "parent_id": parent_id,
                "phone": self.phone(country, city),
                "email": f"info@{domain}" if self.chance(0.7) else None,
                "website": f"https://www.{domain}",
                "notes": self.pick(_ACCOUNT_NOTES) if self.chance(0.1) else None,
            },
        )
        self.add_address(created, city, country, language, account_id=account_id)
        if self.chance(0.15):
            other = self.pick(country.cities)
            self.add_address(
                created, other, country, language, account_id=account_id, label="shipping"
            )
        info = _AccountInfo(account_id, name, country, city, domain, owner, created, industry)
        index = len(self.companies)
        self.companies.append(info)
        conversion = None
        if self.chance(0.1) and created > self.now - 1100 * _DAY:
            lead_created = created - self.rng.randrange(3, 60) * _DAY
            conversion = _Conversion(self.ids(lead_created), lead_created, info)
            self.conversions.append(conversion)
        for position in range(size):
            contact_id = self.make_company_contact(info, primary=position == 0)
            self.all_company_contacts.append((contact_id, index))
        if conversion is not None and info.contact_ids:
            conversion.contact_id = info.contact_ids[0]
        opportunities = self.pick((0, 0, 1, 1, 1, 1, 2, 3)) if info.contact_ids else 0
        for n in range(opportunities):
            # A converted lead became the account, its first contact and first deal at once.
            opp_id = self.make_opportunity(info, from_lead=conversion is not None and n == 0)
            if conversion is not None and conversion.opportunity_id is None:
                conversion.opportunity_id = opp_id
        self.make_account_activities(info)

    def add_address(
        self,
        created: datetime,
        city: _City,
        country: _Country,
        language: str,
        *,
        account_id: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None,
        label: str = "billing",
    ) -> None:
        self.writer.add(
            "address",
            {
                **self.stamps(created),
                "account_id": account_id,
                "contact_id": contact_id,
                "label": label,
                "street": self.street(language),
                "city": city.name,
                "region": city.state,
                "postal_code": self.digits(city.postal),
                "country": country.code,
            },
        )

    def contact_row(
        self, person: _Person, created: datetime, country: _Country, city: _City
    ) -> dict[str, Any]:
        return {
            **self.stamps(created),
            "first_name": person.first,
            "last_name": person.last,
            "full_name": person.full,
            "phone": self.phone(country, city) if self.chance(0.7) else None,
            "mobile": self.phone(country, city, mobile=True) if self.chance(0.5) else None,
            "language": person.language,
            "birthday": (
                date(1955, 1, 1) + self.rng.randrange(45 * 365) * _DAY if self.chance(0.2) else None
            ),
            "last_contacted_at": self.between(created, self.now) if self.chance(0.6) else None,
        }

    def make_company_contact(self, info: _AccountInfo, *, primary: bool) -> uuid.UUID:
        language = self.language_of(info.country)
        person = self.person(language)
        # The primary contact came with the account; colleagues were added over time.
        created = info.created_at if primary else self.between(info.created_at, self.now - 2 * _DAY)
        row = self.contact_row(person, created, info.country, info.city)
        contact_id = row["id"]
        email = self.email(person.email_local, info.domain) if self.chance(0.85) else None
        row.update(email=email, owner_id=info.owner_id)
        if self.chance(0.02):
            row["notes"] = "Met at a trade show; prefers e-mail over calls."
        self.writer.add("contact", row)
        title, department = self.pick(_LANGUAGES[language].jobs)
        self.writer.add(
            "account_contact",
            {
                **self.stamps(created),
                "account_id": info.id,
                "contact_id": contact_id,
                "title": title,
                "department": department,
                "is_primary": primary,
            },
        )
        if self.chance(0.06):
            kind = self.pick((ContactPointKind.PHONE, ContactPointKind.EMAIL, ContactPointKind.FAX))
            if kind is ContactPointKind.EMAIL:
                value = f"{person.email_local}@{self.pick(_LANGUAGES[language].free_mail)}"
                label = "private"
            else:
                value = self.phone(info.country, info.city)
                label = "assistant" if kind is ContactPointKind.PHONE else "work"
            self.writer.add(
                "contact_point",
                {
                    **self.stamps(created),
                    "contact_id": contact_id,
                    "kind": kind,
                    "label": label,
                    "value": value,
                },
            )
        info.contact_ids.append(contact_id)
        info.contacts.append((contact_id, person, email, row["phone"]))
        return contact_id

    def make_individual_customer(self) -> None:
        """A private person who buys: an individual account with its one contact."""
        country = self.weighted(_COUNTRIES, self.country_weights)
        city = self.pick(country.cities)
        language = self.language_of(country)
        person = self.person(language)
        created = self.ago(900, 5)
        stamps = self.stamps(created)
        owner = self.owner_for(country)
        email = self.email(person.email_local, self.pick(_LANGUAGES[language].free_mail))
        phone = self.phone(country, city, mobile=True)
        self.writer.add(
            "account",
            {
                **stamps,
                "name": person.full,
                "kind": AccountKind.INDIVIDUAL,
                "region": country.region,
                "status": self.pick((AccountStatus.ACTIVE, AccountStatus.PROSPECT)),
                "owner_id": owner,
                "phone": phone,
                "email": email,
            },
        )
        self.add_address(created, city, country, language, account_id=stamps["id"], label="home")
        row = self.contact_row(person, created, country, city)
        row.update(email=email, mobile=phone, owner_id=owner)
        self.writer.add("contact", row)
        self.writer.add(
            "account_contact",
            {**self.stamps(created), "account_id": stamps["id"], "contact_id": row["id"]},
        )

    def make_standalone_contact(self) -> None:
        """A contact at no account (a private person, an advisor not yet placed)."""
        country = self.weighted(_COUNTRIES, self.country_weights)
        city = self.pick(country.cities)
        language = self.language_of(country)
        person = self.person(language)
        created = self.ago(900, 5)
        row = self.contact_row(person, created, country, city)
        row.update(
            email=self.email(person.email_local, self.pick(_LANGUAGES[language].free_mail)),
            owner_id=self.owner_for(country),
        )
        if self.chance(0.05):
            row.update(deleted=True, updated_at=self.between(created, self.now))
        self.writer.add("contact", row)
        if self.chance(0.5):
            self.add_address(created, city, country, language, contact_id=row["id"], label="home")

    def make_second_jobs(self) -> None:
        """Some people advise or sit on the board of a second company."""
        if len(self.companies) < 2:
            return
        jobs = (
            ("Advisor", "Board"),
            ("Board Member", "Board"),
            ("External Consultant", "Strategy"),
            ("Interim CFO", "Finance"),
        )
        for contact_id, company_index in self.all_company_contacts:
            if not self.chance(0.05):
                continue
            other = self.rng.randrange(len(self.companies) - 1)
            other += other >= company_index  # any company but their own
            info = self.companies[other]
            title, department = self.pick(jobs)
            self.writer.add(
                "account_contact",
                {
                    **self.stamps(self.between(info.created_at, self.now - _DAY)),
                    "account_id": info.id,
                    "contact_id": contact_id,
                    "title": title,
                    "department": department,
                    "is_primary": False,
                },
            )

    # -- opportunities, buying centres, quotes, orders ------------------------------------------

    def make_opportunity(self, info: _AccountInfo, *, from_lead: bool = False) -> uuid.UUID:
        if self.opportunity_count < len(self.stage_names):
            stage_name = self.stage_names[self.opportunity_count]  # every stage occurs
        else:
            stage_name = self.weighted(self.stage_names, self.stage_weights)
        self.opportunity_count += 1
        stage = self.stages[stage_name]
        if from_lead:
            created = info.created_at
        else:
            start = max(info.created_at, self.now - 700 * _DAY)
            created = self.between(start, self.now - 3 * _DAY)
        if stage.is_closed:
            close_date = min(
                (created + self.rng.randrange(20, 200) * _DAY).date(), self.today - _DAY
            )
            closing = max(self.local(close_date, info.city, (9, 17)), created + timedelta(hours=1))
            close_date = closing.date()
            closed_at: datetime | None = closing
        else:
            closed_at = None
            # A few open deals are past their expected close date: a pipeline needs grooming.
            shift = -self.rng.randrange(1, 25) if self.chance(0.06) else self.rng.randrange(7, 200)
            close_date = self.today + shift * _DAY
        probability = stage.probability
        overridden = False
        if not stage.is_closed and self.chance(0.1):
            probability = max(5, min(95, probability + self.pick((-15, -10, -5, 5, 10, 15))))
            overridden = True
        purchase_type = self.weighted(_PURCHASETYPES, (5, 3, 2))
        theme = self.pick(_THEMES)
        label = {
            PurchaseType.NEW_PURCHASE: f"{theme} rollout",
            PurchaseType.STRAIGHT_REBUY: f"{theme} renewal {close_date.year}",
            PurchaseType.MODIFIED_REBUY: f"{theme} expansion",
        }[purchase_type]
        products = self.rng.sample(self.active_products, self.rng.randrange(1, 4))
        currency = info.country.currency
        stamps = self.stamps(created)
        if closed_at is not None:
            stamps["updated_at"] = closed_at
        opp_id: uuid.UUID = stamps["id"]
        members = self.make_buying_centre(opp_id, info, created)
        quote_amount = None
        if stage_name in ("Proposal", "Negotiation", "Closed Won") or (
            stage_name == "Closed Lost" and self.chance(0.5)
        ):
            quote_amount = self.make_quotes(
                opp_id, info, stage_name, created, closed_at, products, members
            )
        amount = quote_amount
        if amount is None:
            amount = round_money(
                Decimal(self.rng.randrange(5, 400) * 1000) * _RATES.get(currency, Decimal(1)),
                currency,
            )
        lost = stage_name == "Closed Lost"
        self.writer.add(
            "opportunity",
            {
                **stamps,
                "name": f"{info.name}: {label}",
                "account_id": info.id,
                "stage_id": stage.id,
                "probability": probability,
                "probability_overridden": overridden,
                "amount": amount,
                "currency": currency,
                "close_date": close_date,
                "purchase_type": purchase_type,
                "lead_source": self.pick(_LEAD_SOURCES),
                "next_step": None if stage.is_closed else self.pick(_NEXT_STEPS),
                "competitors": ", ".join(self.rng.sample(_COMPETITORS, self.rng.randrange(0, 3)))
                or None,
                "products_of_interest": ", ".join(spec.name for _, spec in products),
                "description": f"{theme.capitalize()} for {info.name}."
                if self.chance(0.3)
                else None,
                "loss_reason": self.pick(_LOSS_REASONS) if lost else None,
                "lessons_learned": self.pick(_LESSONS) if lost and self.chance(0.5) else None,
                "owner_id": info.owner_id if self.chance(0.9) else self.pick(self.reps),
                "closed_at": closed_at,
            },
        )
        self.make_opportunity_activities(opp_id, info, created, closed_at, members)
        return opp_id

    def make_buying_centre(
        self, opp_id: uuid.UUID, info: _AccountInfo, created: datetime
    ) -> list[uuid.UUID]:
        count = min(len(info.contact_ids), self.pick((1, 1, 2, 2, 3)))
        members = self.rng.sample(info.contact_ids, count)
        roles = _BUYINGROLES
        for n, contact_id in enumerate(members):
            role = BuyingRole.DECISION_MAKER if n == 0 else self.pick(roles)
            self.writer.add(
                "opportunity_contact",
                {
                    **self.stamps(self.between(created, min(created + 30 * _DAY, self.now))),
                    "opportunity_id": opp_id,
                    "contact_id": contact_id,
                    "role": role,
                    "attitude": self.weighted(_ATTITUDES, (4, 5, 1)),
                    "influence": (
                        Influence.HIGH
                        if role is BuyingRole.DECISION_MAKER
                        else self.pick(_INFLUENCES)
                    ),
                    "notes": "Sponsors the project internally." if self.chance(0.05) else None,
                },
            )
        return members

    def make_quotes(
        self,
        opp_id: uuid.UUID,
        info: _AccountInfo,
        stage_name: str,
        opp_created: datetime,
        closed_at: datetime | None,
        products: list[tuple[uuid.UUID, _ProductSpec]],
        members: list[uuid.UUID],
    ) -> Decimal:
        """One quote (sometimes two revisions) for the opportunity; returns its net amount."""
        currency = info.country.currency
        end = closed_at or self.now
        if stage_name == "Negotiation" and opp_created < self.now - 40 * _DAY and self.chance(0.3):
            status = QuoteStatus.EXPIRED
            created = self.between(max(opp_created, self.now - 120 * _DAY), self.now - 35 * _DAY)
        elif closed_at is not None:
            status = QuoteStatus.ACCEPTED if stage_name == "Closed Won" else QuoteStatus.REJECTED
            created = self.between(max(opp_created, closed_at - 40 * _DAY), closed_at)
        else:
            status = (
                self.weighted(
                    (QuoteStatus.DRAFT, QuoteStatus.SENT, QuoteStatus.PENDING_APPROVAL), (4, 5, 1)
                )
                if stage_name == "Proposal"
                else self.weighted((QuoteStatus.SENT, QuoteStatus.PENDING_APPROVAL), (3, 1))
            )
            created = self.between(max(opp_created, self.now - 25 * _DAY), self.now - _DAY / 24)
        created = min(created, end)
        self.quote_seq += 1
        number = f"Q-{created.year}-{self.quote_seq:06d}"
        lines = [
            (
                product_id,
                spec,
                Decimal(self.rng.randint(*spec.quantity)),
                Decimal(self.pick((0, 0, 0, 5, 10, 15))),
            )
            for product_id, spec in products
        ]
        revisions = 2 if status is not QuoteStatus.DRAFT and self.chance(0.25) else 1
        contact_id = members[0] if members else None
        net = Decimal(0)
        for revision in range(1, revisions + 1):
            current = revision == revisions
            if current:
                rev_created = created
            else:
                rev_created = self.between(max(opp_created, created - 20 * _DAY), created)
            rev_status = status if current else QuoteStatus.SENT
            quote = Quote(
                currency=currency,
                discount_percent=Decimal(self.pick(("0", "0", "0", "2.5", "5")) if current else 0),
            )
            quote_lines = [
                QuoteLine(
                    quantity=quantity,
                    unit_price=self.prices[(currency, product_id)],
                    discount_percent=discount if current else Decimal(0),
                    tax_rate=info.country.tax_rate,
                )
                for product_id, _, quantity, discount in lines
            ]
            totals = recalculate(quote, quote_lines)
            sent_at = (
                None
                if rev_status is QuoteStatus.DRAFT
                else self.between(rev_created, min(rev_created + 2 * _DAY, end))
            )
            decided_at = (
                closed_at if rev_status in (QuoteStatus.ACCEPTED, QuoteStatus.REJECTED) else None
            )
            stamps = self.stamps(rev_created)
            stamps["updated_at"] = decided_at or sent_at or stamps["updated_at"]
            if not current:
                stamps["updated_at"] = created  # frozen when the next revision was made
            quote_id = stamps["id"]
            self.writer.add(
                "quote",
                {
                    **stamps,
                    "number": number,
                    "revision": revision,
                    "is_current": current,
                    "frozen": not current,
                    "status": rev_status,
                    "opportunity_id": opp_id,
                    "account_id": info.id,
                    "contact_id": contact_id,
                    "price_list_id": self.price_lists[currency],
                    "owner_id": info.owner_id,
                    "currency": currency,
                    "valid_until": rev_created.date() + 30 * _DAY,
                    "discount_percent": quote.discount_percent,
                    "terms": "Payment 30 days net. Prices exclude shipping.",
                    "subtotal": quote.subtotal,
                    "discount_total": quote.discount_total,
                    "tax_total": quote.tax_total,
                    "total": quote.total,
                    "sent_at": sent_at,
                    "decided_at": decided_at,
                },
            )
            line_rows = []
            for position, ((product_id, spec, _, _), line) in enumerate(
                zip(lines, quote_lines, strict=True), start=1
            ):
                row = {
                    **self.stamps(rev_created),
                    "quote_id": quote_id,
                    "position": position,
                    "product_id": product_id,
                    "description": spec.name,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "discount_percent": line.discount_percent,
                    "tax_rate": line.tax_rate,
                    "net_amount": line.net_amount,
                }
                line_rows.append(row)
                self.writer.add("quote_line", row)
            if sent_at is not None:
                self.add_activity(
                    ActivityKind.EMAIL,
                    sent_at,
                    info,
                    subject=f"Quote {number} rev. {revision} sent",
                    contact_id=contact_id,
                    opportunity_id=opp_id,
                    quote_id=quote_id,
                )
            if current:
                net = totals.net_total
                if rev_status is QuoteStatus.ACCEPTED and decided_at is not None:
                    self.make_order(quote_id, opp_id, info, quote, line_rows, decided_at)
        return net

    def make_order(
        self,
        quote_id: uuid.UUID,
        opp_id: uuid.UUID,
        info: _AccountInfo,
        quote: Quote,
        lines: list[dict[str, Any]],
        decided_at: datetime,
    ) -> None:
        self.order_seq += 1
        stamps = self.stamps(decided_at)
        ordered_on = decided_at.date()
        fulfilled = ordered_on < self.today - 45 * _DAY
        order_id = stamps["id"]
        self.writer.add(
            "sales_order",
            {
                **stamps,
                "number": f"SO-{ordered_on.year}-{self.order_seq:06d}",
                "quote_id": quote_id,
                "account_id": info.id,
                "opportunity_id": opp_id,
                "owner_id": info.owner_id,
                "status": OrderStatus.FULFILLED if fulfilled else OrderStatus.OPEN,
                "currency": quote.currency,
                "total": quote.total,
                "ordered_on": ordered_on,
            },
        )
        for line in lines:
            self.writer.add(
                "sales_order_line",
                {
                    **self.stamps(decided_at),
                    "order_id": order_id,
                    **{
                        k: line[k]
                        for k in (
                            "position",
                            "product_id",
                            "description",
                            "quantity",
                            "unit_price",
                            "discount_percent",
                            "tax_rate",
                            "net_amount",
                        )
                    },
                },
            )

    # -- activities -----------------------------------------------------------------------------

    def add_activity(
        self,
        kind: ActivityKind,
        when: datetime,
        info: _AccountInfo,
        *,
        subject: str,
        status: ActivityStatus | None = None,
        contact_id: uuid.UUID | None = None,
        opportunity_id: uuid.UUID | None = None,
        quote_id: uuid.UUID | None = None,
    ) -> None:
        past = when <= self.now
        if status is None:
            status = ActivityStatus.DONE if past else ActivityStatus.PLANNED
        row: dict[str, Any] = {
            "kind": kind,
            "subject": subject,
            "status": status,
            "owner_id": info.owner_id,
            "account_id": info.id,
            "contact_id": contact_id,
            "opportunity_id": opportunity_id,
            "quote_id": quote_id,
            "time_zone": info.city.time_zone,
        }
        end: datetime | None = None
        if kind is ActivityKind.TASK:
            row["due_at"] = when
            row["priority"] = self.weighted(_PRIORITIES, (2, 6, 2))
            row["reminder_at"] = when - _DAY if status is ActivityStatus.PLANNED else None
        elif kind is ActivityKind.MEETING and self.chance(0.08):
            # A whole day on site or at a trade fair: a date, not a time.
            row.update(all_day=True, start_date=when.date(), end_date=when.date() + _DAY)
        else:
            row["start_at"] = when
            if kind is ActivityKind.CALL:
                end = when + self.pick((15, 20, 30, 45)) * timedelta(minutes=1)
            elif kind is ActivityKind.MEETING:
                end = when + self.pick((60, 60, 90, 120)) * timedelta(minutes=1)
                row["location"] = (
                    "Video call" if self.chance(0.4) else f"{info.name}, {info.city.name}"
                )
            row["end_at"] = end
            if status is ActivityStatus.PLANNED and kind in (
                ActivityKind.CALL,
                ActivityKind.MEETING,
            ):
                row["reminder_at"] = when - timedelta(minutes=15)
        if status is ActivityStatus.DONE:
            row["completed_at"] = end or when
            if kind in (ActivityKind.CALL, ActivityKind.MEETING):
                row["outcome"] = self.pick(_OUTCOMES)
        if status is ActivityStatus.PLANNED:
            # Planned some days before it is due (an overdue task was planned before its date).
            created = min(self.ago(30, 1), when - _DAY)
        else:
            created = min(when, self.now)  # logged when it happened
        stamps = self.stamps(created)
        if status is ActivityStatus.DONE:
            stamps["updated_at"] = max(stamps["created_at"], min(end or when, self.now))
        if self.chance(0.01):
            stamps["deleted"] = True  # entered by mistake and removed
        row.update(stamps)
        self.writer.add("activity", row)

    def contact_name(self, info: _AccountInfo, contact_id: uuid.UUID | None) -> str:
        for cid, person, _, _ in info.contacts:
            if cid == contact_id:
                return person.full
        return info.name

    def make_opportunity_activities(
        self,
        opp_id: uuid.UUID,
        info: _AccountInfo,
        created: datetime,
        closed_at: datetime | None,
        members: list[uuid.UUID],
    ) -> None:
        end = closed_at or self.now
        for _ in range(self.pick((0, 1, 1, 2))):
            kind = self.pick(
                (
                    ActivityKind.CALL,
                    ActivityKind.CALL,
                    ActivityKind.MEETING,
                    ActivityKind.EMAIL,
                    ActivityKind.NOTE,
                )
            )
            when = self.local(self.between(created, end).date(), info.city)
            when = min(max(when, created), end)
            contact_id = self.pick(members) if members else None
            who = self.contact_name(info, contact_id)
            subject = {
                ActivityKind.CALL: f"Call with {who}",
                ActivityKind.MEETING: f"Meeting at {info.name}",
                ActivityKind.EMAIL: f"Follow-up e-mail to {who}",
                ActivityKind.NOTE: f"Notes on {info.name}'s buying process",
            }[kind]
            status = (
                ActivityStatus.CANCELLED
                if kind is ActivityKind.MEETING and self.chance(0.05)
                else None
            )
            self.add_activity(
                kind, when, info, subject=subject, status=status, contact_id=contact_id,
                opportunity_id=opp_id,
            )  # fmt: skip
        if closed_at is not None:
            return
        if self.chance(0.7):
            kind = self.pick((ActivityKind.CALL, ActivityKind.MEETING))
            day = self.today + self.rng.randrange(1, 30) * _DAY
            contact_id = self.pick(members) if members else None
            subject = (
                f"Demo for {info.name}"
                if kind is ActivityKind.MEETING
                else f"Check-in call with {self.contact_name(info, contact_id)}"
            )
            self.add_activity(
                kind, self.local(day, info.city), info, subject=subject, contact_id=contact_id,
                opportunity_id=opp_id,
            )  # fmt: skip
        if self.chance(0.4):
            # About a quarter of open tasks are overdue: due in the past and still planned.
            shift = -self.rng.randrange(1, 20) if self.chance(0.25) else self.rng.randrange(0, 21)
            due = self.local(self.today + shift * _DAY, info.city, (15, 18))
            self.add_activity(
                ActivityKind.TASK, due, info, subject=f"Prepare next step for {info.name}",
                status=ActivityStatus.PLANNED, opportunity_id=opp_id,
            )  # fmt: skip

    def make_account_activities(self, info: _AccountInfo) -> None:
        """Touches not tied to a deal: about one contact in six got a call or an e-mail."""
        for contact_id, person, _, _ in info.contacts:
            if not self.chance(0.16):
                continue
            kind = self.pick((ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.EMAIL))
            day = self.between(max(info.created_at, self.now - 400 * _DAY), self.now).date()
            when = min(self.local(day, info.city), self.now)
            subject = (
                f"Call with {person.full}"
                if kind is ActivityKind.CALL
                else f"Introduction e-mail to {person.full}"
            )
            self.add_activity(kind, when, info, subject=subject, contact_id=contact_id)
        if info.contacts and self.chance(0.1):
            self.add_activity(
                ActivityKind.NOTE,
                self.between(info.created_at, self.now),
                info,
                subject=f"Organisation chart of {info.name}",
            )

    # -- leads ----------------------------------------------------------------------------------

    def make_leads(self) -> None:
        for conversion in self.conversions:
            self.make_converted_lead(conversion)
            self.writer.flush_if_full()
        for _ in range(self.total_contacts // 12):
            self.make_open_lead()
            self.writer.flush_if_full()

    def make_converted_lead(self, conversion: _Conversion) -> None:
        info = conversion.account
        # The lead was the company's first contact (every company has at least one).
        _, person, email, phone = info.contacts[0]
        converted_at = info.created_at
        self.writer.add(
            "lead",
            {
                "id": conversion.lead_id,
                "created_at": conversion.lead_created,
                "updated_at": converted_at,
                "first_name": person.first,
                "last_name": person.last,
                "full_name": person.full,
                "company": info.name,
                "email": email,
                "phone": phone,
                "industry": info.industry,
                "region": info.country.region,
                "source": self.pick(_LEAD_SOURCES),
                "campaign": self.pick(_CAMPAIGNS) if self.chance(0.6) else None,
                "grade": self.weighted(_GRADES, (4, 4, 2, 1)),
                "status": LeadStatus.CONVERTED,
                "owner_id": info.owner_id,
                "last_contacted_at": converted_at,
                "converted_at": converted_at,
                "converted_account_id": info.id,
                "converted_contact_id": conversion.contact_id,
                "converted_opportunity_id": conversion.opportunity_id,
            },
        )

    def make_open_lead(self) -> None:
        country = self.weighted(_COUNTRIES, self.country_weights)
        city = self.pick(country.cities)
        language = self.language_of(country)
        person = self.person(language)
        created = self.ago(300)
        status = self.weighted(
            (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED),
            (35, 30, 15, 20),
        )
        company = None
        title = None
        if self.chance(0.85):
            company_language = self.company_language(country)
            company, stem = self.company_name(company_language, city, country)
            domain = f"{stem}{country.tld}"
            title = self.pick(_LANGUAGES[language].jobs)[0]
        else:
            domain = self.pick(_LANGUAGES[language].free_mail)
        stamps = self.stamps(created)
        if self.chance(0.01):
            stamps.update(deleted=True, updated_at=self.between(created, self.now))
        self.writer.add(
            "lead",
            {
                **stamps,
                "first_name": person.first,
                "last_name": person.last,
                "full_name": person.full,
                "company": company,
                "title": title,
                "email": self.email(person.email_local, domain) if self.chance(0.9) else None,
                "phone": self.phone(country, city) if self.chance(0.6) else None,
                "industry": self.pick(_INDUSTRIES) if company else None,
                "region": country.region,
                "source": self.pick(_LEAD_SOURCES),
                "campaign": self.pick(_CAMPAIGNS) if self.chance(0.5) else None,
                "grade": self.weighted(_GRADES, (1, 3, 4, 2)),
                "status": status,
                "owner_id": self.territory[country.region],
                "notes": (
                    self.pick(("No budget.", "Student project.", "Works for a competitor."))
                    if status is LeadStatus.DISQUALIFIED
                    else None
                ),
                "last_contacted_at": (
                    self.between(created, self.now) if status is not LeadStatus.NEW else None
                ),
            },
        )

    # -- finishing ------------------------------------------------------------------------------

    def close_cycles(self) -> None:
        """Write the references that point "forward" in insert order, now that both ends exist."""
        self.writer.set_column("team", "manager_id", [(self.team_id, self.manager_id)])
        self.writer.set_column(
            "account", "source_lead_id", [(c.account.id, c.lead_id) for c in self.conversions]
        )
        self.writer.set_column(
            "contact",
            "source_lead_id",
            [(c.contact_id, c.lead_id) for c in self.conversions if c.contact_id],
        )
        self.writer.set_column(
            "opportunity",
            "source_lead_id",
            [(c.opportunity_id, c.lead_id) for c in self.conversions if c.opportunity_id],
        )


def generate(
    *, session: Session, contacts: int, seed: int, today: date = DEFAULT_TODAY
) -> DemoSummary:
    """Fill the (empty) store behind ``session`` with demo data around ``contacts`` contacts.

    Deterministic for ``(contacts, seed, today)``. Writes through the session's connection in the
    caller's transaction and never commits. Raises :class:`DemoDataError` if the store already
    holds accounts, contacts or users (ids and unique names would collide).
    """
    if contacts < 0:
        raise DemoDataError("the number of contacts cannot be negative")
    for model in (User, Account, Contact):
        if session.scalar(select(func.count()).select_from(model)):
            raise DemoDataError("the store already holds data; demo data needs an empty profile")
    return _Generator(session, contacts, seed, today).run()
