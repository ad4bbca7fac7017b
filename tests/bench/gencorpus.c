/*
 * gencorpus: write a deterministic benchmark corpus of annual
 * rule-of-law reports (法治政府建设年度报告).
 *
 * usage: gencorpus [-F] N OUTDIR
 *
 * Writes OUTDIR/site.yaml and OUTDIR/content/<department>/<year>.md
 * for reports 0 .. N-1, and the same reports in Hugo's layout under
 * OUTDIR/hugo/content/report/<department>/<year>.md (front matter with
 * taxonomies; the Markdown body is byte-identical).  -F skips the Hugo
 * copy (for very large N).
 *
 * Report i belongs to department i / 10 and year 2015 + i % 10, so a
 * department directory holds ten reports.  Every report is generated
 * from a splitmix64 stream seeded by its index and the department name
 * from the department index alone: the output is identical on every
 * run and any report can be generated without the others.  Reports
 * are streamed to disk one at a time, so memory does not grow with N.
 *
 * Only libc is used, so the generator builds anywhere the benchmark
 * runs: cc -O2 -std=c11 -Wall -Wextra -o gencorpus gencorpus.c
 */
#define _POSIX_C_SOURCE 200809L

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define YEARS		10	/* 2015 .. 2024 */
#define FIRST_YEAR	2015

/* A growable byte buffer local to this program (it links only libc). */
struct sbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

static void
sb_grow(struct sbuf *b, size_t extra)
{
	size_t	 cap;

	if (b->len + extra + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra + 1)
		cap *= 2;
	if ((b->data = realloc(b->data, cap)) == NULL) {
		perror("gencorpus: realloc");
		exit(1);
	}
	b->cap = cap;
}

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* splitmix64: tiny, fast and fully specified, so output never drifts. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z;

	z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform-enough integer in [lo, hi]. */
static long
rrange(uint64_t *s, long lo, long hi)
{
	return lo + (long)(rnd(s) % (uint64_t)(hi - lo + 1));
}

static const char *
pick(uint64_t *s, const char *const *v, size_t n)
{
	return v[rnd(s) % n];
}

/* ---- Department names ------------------------------------------------ */

static const char *const city_syl[] = {
	"临", "江", "安", "宁", "平", "阳", "南", "泉", "清", "河",
	"东", "华", "兴", "昌", "明", "德", "长", "永", "嘉", "泰",
	"金", "云", "龙", "凤", "广", "丰", "庆", "和", "通", "宜",
	"济", "淮", "岳", "常", "益", "汉", "荆", "襄", "梧", "桂",
	"柳", "洛", "沧", "潍", "湘", "赣", "闽", "黔", "滨", "沂",
};

static const char *const dist_syl[] = {
	"城", "关", "新", "鼓", "楼", "中", "西", "北", "山", "湖",
	"秀", "峰", "溪", "林", "源", "港", "台", "阁", "桥", "塘",
	"海", "川", "岭", "亭", "州", "坪", "沙", "石", "坝", "潭",
	"春", "文", "武", "福", "吉", "瑞", "兰", "松", "柏", "梅",
	"花", "田", "营", "集", "店", "口", "岗", "洲", "屯", "滩",
};

#define NSYL	50

/* 市政府部门: 某某市 + agency. */
static const char *const city_agency[] = {
	"司法局", "公安局", "财政局", "教育局", "民政局",
	"人力资源和社会保障局", "自然资源和规划局", "生态环境局",
	"住房和城乡建设局", "交通运输局", "水务局", "农业农村局",
	"商务局", "文化广电旅游局", "卫生健康委员会", "退役军人事务局",
	"应急管理局", "审计局", "市场监督管理局", "统计局",
	"医疗保障局", "城市管理局", "发展和改革委员会",
	"工业和信息化局", "科学技术局", "民族宗教事务局", "体育局",
	"信访局", "政务服务数据管理局", "人民政府办公室",
};

/* 区政府: 某某市某某区 + the district government or one of its bureaus. */
static const char *const dist_agency[] = {
	"人民政府", "司法局", "财政局", "教育局", "民政局",
	"市场监督管理局", "住房和城乡建设局", "卫生健康局",
	"应急管理局", "城市管理和综合执法局", "人力资源和社会保障局",
	"农业农村局",
};
#define DISTS_PER_CITY	8

/* 市直单位: 某某市 + unit (disjoint from city_agency). */
static const char *const city_unit[] = {
	"住房公积金管理中心", "档案馆", "机关事务管理局",
	"地方金融监督管理局", "公共资源交易中心", "大数据中心",
	"供销合作社联合社", "残疾人联合会", "社会保险事业管理中心",
	"不动产登记中心", "行政审批服务局", "园林绿化局",
	"人民防空办公室", "粮食和物资储备局", "地方志编纂委员会办公室",
	"投资促进局", "国有资产监督管理委员会", "港口管理局",
};

/* 中央和省驻市单位: prefix + city + suffix. */
static const char *const central_unit[][2] = {
	{ "国家税务总局", "市税务局" },
	{ "", "海关" },
	{ "", "市气象局" },
	{ "", "市烟草专卖局" },
	{ "国家统计局", "调查队" },
	{ "", "市邮政管理局" },
	{ "中国人民银行", "市中心支行" },
	{ "", "市地震局" },
	{ "", "海事局" },
	{ "", "市通信管理办公室" },
	{ "", "出入境边防检查站" },
	{ "", "市消防救援支队" },
};

static const char *const categories[] = {
	"市政府部门", "区政府", "市直单位", "中央和省驻市单位",
};

/*
 * Write the place name with index k: bijective numbering over names of
 * two, three, ... syllables where no syllable repeats its neighbour, so
 * every k gives a distinct name and the names never run out.
 */
static void
place_name(struct sbuf *b, const char *const *syl, uint64_t k)
{
	uint64_t cap = NSYL * (NSYL - 1), digits[16];
	size_t	 len = 2, i;
	unsigned prev;

	while (k >= cap) {
		k -= cap;
		cap *= NSYL - 1;
		len++;
	}
	for (i = len; i-- > 1; ) {
		digits[i] = k % (NSYL - 1);
		k /= NSYL - 1;
	}
	digits[0] = k;
	prev = (unsigned)digits[0];
	sb_puts(b, syl[prev]);
	for (i = 1; i < len; i++) {
		/* Skip the previous syllable: 49 choices per position. */
		prev = (unsigned)((prev + 1 + digits[i]) % NSYL);
		sb_puts(b, syl[prev]);
	}
}

/*
 * Department d: its name into b, its category index returned.  The
 * name is a pure function of d and distinct for distinct d: the
 * category and the fixed words after the city tell the shapes apart,
 * and "市" never occurs inside a place name.
 */
static int
department(struct sbuf *b, uint64_t d, const char **self)
{
	int	 cat = (int)(d % 4);
	uint64_t k = d / 4, n, city, dist;

	switch (cat) {
	case 0:
		n = NELEM(city_agency);
		place_name(b, city_syl, k / n);
		sb_puts(b, "市");
		sb_puts(b, city_agency[k % n]);
		*self = strstr(city_agency[k % n], "局") ? "我局" : "本单位";
		break;
	case 1:
		n = NELEM(dist_agency);
		city = k / n / DISTS_PER_CITY;
		/* Different cities get different district names. */
		dist = (city * 7 + (k / n) % DISTS_PER_CITY) %
		    (NSYL * (NSYL - 1));
		place_name(b, city_syl, city);
		sb_puts(b, "市");
		place_name(b, dist_syl, dist);
		sb_puts(b, "区");
		sb_puts(b, dist_agency[k % n]);
		*self = k % n == 0 ? "区政府" : "我局";
		break;
	case 2:
		n = NELEM(city_unit);
		place_name(b, city_syl, k / n);
		sb_puts(b, "市");
		sb_puts(b, city_unit[k % n]);
		*self = "本单位";
		break;
	default:
		n = NELEM(central_unit);
		sb_puts(b, central_unit[k % n][0]);
		place_name(b, city_syl, k / n);
		sb_puts(b, central_unit[k % n][1]);
		*self = "本单位";
		break;
	}
	return cat;
}

/* ---- Report text ----------------------------------------------------- */

static const char *const cn_num[] = {
	"一", "二", "三", "四", "五", "六", "七", "八", "九", "十",
	"十一", "十二", "十三", "十四", "十五",
};

static const char *const topics[] = {
	"加强党对法治政府建设的领导",
	"依法全面履行政府职能",
	"完善依法行政制度体系",
	"推进重大行政决策科学化民主化法治化",
	"严格规范公正文明执法",
	"强化对行政权力的制约和监督",
	"依法有效化解社会矛盾纠纷",
	"全面提升法治思维和依法行政能力",
	"深入推进政务公开",
	"深化“放管服”改革",
	"持续优化法治化营商环境",
	"加强行政规范性文件监督管理",
	"扎实开展法治宣传教育",
	"加快推进数字法治政府建设",
	"健全突发事件应对体系",
	"发挥行政复议化解行政争议主渠道作用",
};

/*
 * Measures.  Markers are expanded with numbers: '@' small (2-20),
 * '#' medium (10-600), '$' large (300-30000), '~' a percentage
 * (85.0-99.9), '^' the report's year.  The rest is plain Chinese text.
 */
static const char *const measures[] = {
	"坚持把法治政府建设摆在全局工作的突出位置，召开党组（党委）会议专题研究法治建设工作@次，及时研究解决法治建设中的重大问题",
	"制定印发《^年法治政府建设工作要点》，细化工作任务#项，明确责任单位和完成时限，实行清单化管理、项目化推进",
	"全面推行权责清单制度，动态调整行政权力事项#项，做到清单之外无权力",
	"取消和下放行政许可事项@项，政务服务事项网上可办率达到~%",
	"严格落实重大行政决策程序规定，对@项重大行政决策事项开展公众参与、专家论证、风险评估和合法性审查",
	"发挥法律顾问和公职律师作用，审核各类合同协议#份，提出法律意见建议#条",
	"加强行政规范性文件合法性审核，全年审核规范性文件@件，备案率、及时率均达到100%",
	"开展规范性文件清理工作，废止@件、修改@件，保障法制统一",
	"全面推行行政执法公示、执法全过程记录、重大执法决定法制审核制度，公示执法信息$条",
	"组织开展行政执法案卷评查，抽查案卷#卷，发现并督促整改问题#个",
	"推行包容审慎监管，落实轻微违法行为不予处罚清单，对#家市场主体依法不予行政处罚",
	"落实“双随机、一公开”监管，开展跨部门联合抽查#次，检查市场主体$户次",
	"办理人大代表建议@件、政协委员提案@件，办复率100%，满意率~%",
	"自觉接受司法监督，全年发生行政诉讼案件#件，行政机关负责人出庭应诉率达到~%",
	"办理行政复议案件#件，依法纠错@件，有效化解行政争议",
	"深化政务公开，主动公开政府信息$条，办理政府信息公开申请#件",
	"健全矛盾纠纷多元化解机制，调解各类矛盾纠纷$件，调解成功率~%",
	"畅通群众诉求表达渠道，办理12345热线工单$件，按时办结率~%",
	"落实“谁执法谁普法”普法责任制，开展“宪法宣传周”“民法典宣传月”等主题活动#场次，发放宣传资料$份",
	"组织领导干部集体学法@次，开展执法人员专题培训@期、培训#人次",
	"组织全体执法人员参加年度法律知识考试，参考率、合格率均为100%",
	"推进“互联网+监管”，归集监管数据$条，实现监管事项全覆盖",
	"建成使用行政执法综合管理平台，接入执法主体#个，网上办案率~%",
	"修订完善突发事件应急预案@项，组织开展应急演练#次，参演人员$人次",
	"开展安全生产专项整治，排查整改隐患$处，立案查处违法行为#起",
	"清理妨碍统一市场和公平竞争的政策措施@件，开展公平竞争审查#件",
	"推进“一网通办”，实现#个高频事项“跨省通办”，平均办理时限压缩~%",
	"推进证明事项告知承诺制，对#项证明事项实行告知承诺，惠及群众$人次",
	"聘请#名社会监督员，开展行政执法满意度测评，群众满意率~%",
	"完善行政执法与刑事司法衔接机制，向司法机关移送涉嫌犯罪案件@件",
	"推行柔性执法，运用说服教育、劝导示范、行政指导等方式处理案件#件",
	"开展法治政府建设示范创建活动，培育法治建设示范点@个",
	"落实行政执法人员持证上岗和资格管理制度，清理不符合条件的执法人员@名",
	"建立健全重大行政执法决定法制审核目录清单，全年法制审核重大执法决定#件",
	"推行行政裁量权基准制度，细化量化裁量标准#项",
	"加强府院联动，召开行政审判与行政执法联席会议@次，通报典型案例@个",
};

static const char *const lead_ins[] = {
	"主要做法包括：",
	"具体工作如下：",
	"重点抓了以下几项工作：",
	"主要措施有：",
};

static const char *const connectives[] = {
	"此外，", "同时，", "在此基础上，", "与此同时，",
};

static const char *const weaknesses[] = {
	"法治政府建设工作推进不够平衡，个别部门对法治建设重要性认识不足",
	"行政执法队伍专业化水平有待提高，执法人员法律素养参差不齐",
	"重大行政决策公众参与的广度和深度还不够",
	"法治宣传教育的针对性和实效性有待增强",
	"行政执法信息化建设相对滞后，数据共享不够充分",
	"基层法治力量相对薄弱，法制审核人员配备不足",
	"规范性文件管理还存在薄弱环节，个别文件起草质量不高",
	"矛盾纠纷源头预防机制还不够健全",
	"执法监督的刚性不足，对问题整改的跟踪问效不够",
};

static const char *const reasons[] = {
	"主要原因是思想认识还不够到位，工作统筹还不够有力。",
	"主要原因是专业人才引进和培养机制不健全，培训的系统性不强。",
	"主要原因是工作机制还不够完善，部门之间协同配合不够紧密。",
	"主要原因是经费和技术保障不足，信息化建设投入有限。",
};

static const char *const plans[] = {
	"深入学习宣传贯彻习近平法治思想，推动党政主要负责人切实履行推进法治建设第一责任人职责",
	"持续深化“放管服”改革，加快转变政府职能",
	"严格落实重大行政决策程序，提高决策质量和效率",
	"全面推进严格规范公正文明执法，加强行政执法协调监督",
	"加强执法队伍建设，全面提升依法行政能力",
	"推进数字法治政府建设，提升法治建设信息化水平",
	"健全矛盾纠纷多元预防调处化解机制，把矛盾纠纷化解在基层",
	"强化对行政权力的制约和监督，自觉接受各方面监督",
	"加强行政规范性文件制定和监督管理，维护法制统一",
};

static const char *const indicators[][2] = {
	{ "行政许可事项", "项" },
	{ "行政处罚案件", "件" },
	{ "行政复议案件", "件" },
	{ "行政诉讼案件", "件" },
	{ "规范性文件审核", "件" },
	{ "合同合法性审核", "份" },
	{ "执法人员培训", "人次" },
	{ "普法活动", "场次" },
	{ "政府信息公开申请", "件" },
	{ "矛盾纠纷调解", "件" },
	{ "执法检查", "次" },
	{ "12345工单办理", "件" },
};

static const char *const case_kinds[] = {
	"公安", "市场监管", "人力资源社会保障", "规划和自然资源",
	"住房和建设", "生态环境", "交通运输", "卫生健康", "其他",
};

struct statsdef {
	const char	*title;
	const char	*unit;
	const char	*labels[5];
};

static const struct statsdef statsdefs[] = {
	{ "行政复议案件办理情况", "件",
	    { "收到申请", "受理", "审结", "直接纠错", NULL } },
	{ "行政执法情况", "件",
	    { "行政检查", "行政处罚", "行政强制", "行政许可", NULL } },
	{ "政府信息公开情况", "条",
	    { "主动公开", "依申请公开", "答复", NULL, NULL } },
	{ "普法工作情况", "场次",
	    { "主题活动", "专题讲座", "以案释法", "送法进基层", NULL } },
	{ "矛盾纠纷化解情况", "件",
	    { "受理", "调解成功", "转办", NULL, NULL } },
};

/* Append template t with its markers expanded. */
static void
expand(struct sbuf *b, uint64_t *s, const char *t, int year)
{
	const char *p;
	long	 v;

	for (p = t; *p != '\0'; p++) {
		switch (*p) {
		case '@':
			sb_printf(b, "%ld", rrange(s, 2, 20));
			break;
		case '#':
			sb_printf(b, "%ld", rrange(s, 10, 600));
			break;
		case '$':
			sb_printf(b, "%ld", rrange(s, 300, 30000));
			break;
		case '~':
			v = rrange(s, 850, 999);
			sb_printf(b, "%ld.%ld", v / 10, v % 10);
			break;
		case '^':
			sb_printf(b, "%d", year);
			break;
		default:
			sb_put(b, p, 1);
			break;
		}
	}
}

/* Choose k distinct indices of n (k <= n) in random order. */
static void
choose(uint64_t *s, size_t *out, size_t k, size_t n)
{
	size_t	 idx[64], i, j, t;

	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = 0; i < k; i++) {
		j = i + (size_t)(rnd(s) % (n - i));
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		out[i] = idx[i];
	}
}

/* A paragraph "一是……。二是……。" of k measures. */
static void
enumerated(struct sbuf *b, uint64_t *s, const char *const *v, size_t n,
    size_t k, int year)
{
	size_t	 sel[64], i;

	choose(s, sel, k, n);
	for (i = 0; i < k; i++) {
		sb_puts(b, cn_num[i]);
		sb_puts(b, "是");
		expand(b, s, v[sel[i]], year);
		sb_puts(b, "。");
	}
	sb_puts(b, "\n\n");
}

/* A follow-up paragraph: "此外，……；……。" */
static void
narrative(struct sbuf *b, uint64_t *s, int year)
{
	size_t	 sel[2];

	choose(s, sel, 2, NELEM(measures));
	sb_puts(b, pick(s, connectives, NELEM(connectives)));
	expand(b, s, measures[sel[0]], year);
	sb_puts(b, "；");
	expand(b, s, measures[sel[1]], year);
	sb_puts(b, "。\n\n");
}

static void
list(struct sbuf *b, uint64_t *s, int year)
{
	size_t	 sel[8], k, i;
	int	 ordered = rnd(s) % 3 == 0;

	sb_puts(b, pick(s, lead_ins, NELEM(lead_ins)));
	sb_puts(b, "\n\n");
	k = (size_t)rrange(s, 3, 5);
	choose(s, sel, k, NELEM(measures));
	for (i = 0; i < k; i++) {
		if (ordered)
			sb_printf(b, "%zu. ", i + 1);
		else
			sb_puts(b, "- ");
		expand(b, s, measures[sel[i]], year);
		sb_puts(b, "。\n");
	}
	sb_puts(b, "\n");
}

/* A GFM table comparing this year with the last, or cases by kind. */
static void
table(struct sbuf *b, uint64_t *s, int year)
{
	size_t	 sel[16], k, i;
	long	 prev, cur, a, c, d, ta = 0, tc = 0, td = 0;

	if (rnd(s) % 2 == 0) {
		sb_printf(b, "%d年与上年主要指标对比如下：\n\n", year);
		sb_printf(b, "| 指标 | 单位 | %d年 | %d年 | 同比 |\n",
		    year - 1, year);
		sb_puts(b, "|:---|:---:|---:|---:|---:|\n");
		k = (size_t)rrange(s, 4, 7);
		choose(s, sel, k, NELEM(indicators));
		for (i = 0; i < k; i++) {
			prev = rrange(s, 20, 5000);
			cur = prev + rrange(s, -prev / 4, prev / 3);
			d = (cur - prev) * 1000 / prev;
			sb_printf(b, "| %s | %s | %ld | %ld | %s%ld.%ld%% |\n",
			    indicators[sel[i]][0], indicators[sel[i]][1],
			    prev, cur, d < 0 ? "-" : "+",
			    labs(d) / 10, labs(d) % 10);
		}
	} else {
		sb_puts(b, "案件分类办理情况如下：\n\n");
		sb_puts(b, "| 案件类别 | 收到 | 受理 | 办结 |\n");
		sb_puts(b, "|:---|---:|---:|---:|\n");
		k = (size_t)rrange(s, 3, 6);
		choose(s, sel, k, NELEM(case_kinds));
		for (i = 0; i < k; i++) {
			a = rrange(s, 10, 1200);
			c = a - rrange(s, 0, a / 8);
			d = c - rrange(s, 0, c / 10);
			ta += a;
			tc += c;
			td += d;
			sb_printf(b, "| %s | %ld | %ld | %ld |\n",
			    case_kinds[sel[i]], a, c, d);
		}
		sb_printf(b, "| 合计 | %ld | %ld | %ld |\n", ta, tc, td);
	}
	sb_puts(b, "\n");
}

static void
stats(struct sbuf *b, uint64_t *s)
{
	const struct statsdef *sd;
	size_t	 i;
	long	 v;

	sd = &statsdefs[rnd(s) % NELEM(statsdefs)];
	v = rrange(s, 500, 6000);
	sb_puts(b, "全年主要数据如下：\n\n```stats\n");
	sb_printf(b, "title: %s\nunit: %s\n", sd->title, sd->unit);
	for (i = 0; i < NELEM(sd->labels) && sd->labels[i] != NULL; i++) {
		sb_printf(b, "%s: %ld\n", sd->labels[i], v);
		v -= rrange(s, 0, v / 4);
	}
	sb_puts(b, "```\n\n");
}

/*
 * The Markdown body of one report, about 8 KB.  Sections 二 to 五 are
 * written first so that section 一 can grow to the size target.
 */
static void
body(struct sbuf *b, struct sbuf *tail, uint64_t *s, const char *dept,
    const char *self, int year)
{
	size_t	 order[NELEM(topics)], target, nsub;
	int	 with_stats = rnd(s) % 4 == 0, done_stats = 0;

	target = (size_t)rrange(s, 7200, 8800);

	tail->len = 0;
	sb_puts(tail, "## 二、存在的不足和原因\n\n");
	enumerated(tail, s, weaknesses, NELEM(weaknesses),
	    (size_t)rrange(s, 2, 3), year);
	tail->len -= 2;	/* the reason continues the paragraph */
	tail->data[tail->len] = '\0';
	sb_puts(tail, pick(s, reasons, NELEM(reasons)));
	sb_puts(tail, "\n\n## 三、党政主要负责人履行推进法治建设第一责任人职责情况\n\n");
	sb_printf(tail, "%s主要负责人认真履行推进法治建设第一责任人职责，"
	    "全年主持召开会议研究法治建设工作%ld次，带头开展学法活动%ld次，"
	    "对%ld件重大事项组织合法性审查，带头出庭应诉%ld次。\n\n",
	    self, rrange(s, 2, 12), rrange(s, 2, 8), rrange(s, 3, 40),
	    rrange(s, 1, 4));
	sb_printf(tail, "## 四、%d年推进法治政府建设的主要安排\n\n",
	    year + 1);
	enumerated(tail, s, plans, NELEM(plans), (size_t)rrange(s, 3, 5),
	    year);
	sb_puts(tail, "## 五、其他需要报告的情况\n\n");
	if (rnd(s) % 3 == 0)
		sb_printf(tail, "%d年，%s未发生因违法行政被问责的情况。\n",
		    year, self);
	else
		sb_puts(tail, "无。\n");

	b->len = 0;
	sb_printf(b, "%d年，%s坚持以习近平新时代中国特色社会主义思想为指导，"
	    "深入学习贯彻习近平法治思想，认真落实《法治政府建设实施纲要"
	    "（%s年）》，统筹推进法治政府建设各项工作，取得了积极成效。"
	    "现将有关情况报告如下：\n\n",
	    year, dept, year >= 2021 ? "2021—2025" : "2015—2020");
	sb_printf(b, "## 一、%d年推进法治政府建设的主要举措和成效\n\n", year);
	choose(s, order, NELEM(topics), NELEM(topics));
	for (nsub = 0; nsub < NELEM(topics); nsub++) {
		if (nsub >= 3 && b->len + tail->len >= target)
			break;
		sb_printf(b, "### （%s）%s\n\n", cn_num[nsub],
		    topics[order[nsub]]);
		enumerated(b, s, measures, NELEM(measures),
		    (size_t)rrange(s, 3, 5), year);
		switch (rnd(s) % 4) {
		case 0:
			list(b, s, year);
			break;
		case 1:
			table(b, s, year);
			break;
		case 2:
			if (with_stats && !done_stats) {
				stats(b, s);
				done_stats = 1;
			} else
				narrative(b, s, year);
			break;
		default:
			break;
		}
	}
	if (with_stats && !done_stats)
		stats(b, s);
	sb_put(b, tail->data, tail->len);
}

/* ---- Output ---------------------------------------------------------- */

/* Write a whole file; exit on failure (a partial corpus is useless). */
static void
writefile(const char *path, const char *a, size_t alen, const char *c,
    size_t clen)
{
	int	 fd;
	ssize_t	 w;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		fprintf(stderr, "gencorpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (alen > 0 || clen > 0) {
		if (alen == 0) {
			a = c;
			alen = clen;
			clen = 0;
		}
		if ((w = write(fd, a, alen)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "gencorpus: %s: %s\n", path,
			    strerror(errno));
			exit(1);
		}
		a += w;
		alen -= (size_t)w;
	}
	if (close(fd) == -1) {
		fprintf(stderr, "gencorpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void
makedir(const char *path)
{
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "gencorpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static const char site_yaml[] =
	"title: 法治政府建设年度报告（基准语料）\n"
	"base_url: https://bench.example.gov.cn/\n"
	"language: zh-CN\n"
	"categories: [市政府部门, 区政府, 市直单位, 中央和省驻市单位]\n"
	"theme: default\n";

static void
usage(void)
{
	fprintf(stderr, "usage: gencorpus [-F] N OUTDIR\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct sbuf dept = { 0 }, fm = { 0 }, hfm = { 0 }, text = { 0 },
		    tail = { 0 }, path = { 0 };
	const char *out, *self = "本单位";
	char	*end;
	unsigned long long n, i, bytes = 0;
	uint64_t s;
	int	 hugo = 1, cat = 0, year, month, day;

	if (argc > 1 && strcmp(argv[1], "-F") == 0) {
		hugo = 0;
		argc--;
		argv++;
	}
	if (argc != 3)
		usage();
	errno = 0;
	n = strtoull(argv[1], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[1] || argv[1][0] == '-')
		usage();
	out = argv[2];

	makedir(out);
	sb_printf(&path, "%s/site.yaml", out);
	writefile(path.data, site_yaml, sizeof(site_yaml) - 1, "", 0);
	path.len = 0;
	sb_printf(&path, "%s/content", out);
	makedir(path.data);
	if (hugo) {
		path.len = 0;
		sb_printf(&path, "%s/hugo", out);
		makedir(path.data);
		sb_puts(&path, "/content");
		makedir(path.data);
		sb_puts(&path, "/report");
		makedir(path.data);
	}

	for (i = 0; i < n; i++) {
		year = FIRST_YEAR + (int)(i % YEARS);
		if (i % YEARS == 0 || i == 0) {
			dept.len = 0;
			cat = department(&dept, i / YEARS, &self);
			path.len = 0;
			sb_printf(&path, "%s/content/%s", out, dept.data);
			makedir(path.data);
			if (hugo) {
				path.len = 0;
				sb_printf(&path, "%s/hugo/content/report/%s",
				    out, dept.data);
				makedir(path.data);
			}
		}
		s = i * 0xd1342543de82ef95ULL + 0x5eed;
		month = (int)rrange(&s, 1, 3);
		day = (int)rrange(&s, 1, 28);
		body(&text, &tail, &s, dept.data, self, year);

		fm.len = 0;
		sb_printf(&fm, "---\ntitle: %s%d年法治政府建设年度报告\n"
		    "department: %s\nyear: %d\ncategory: %s\n"
		    "date: %d-%02d-%02d\nsource: %s\n---\n\n",
		    dept.data, year, dept.data, year, categories[cat],
		    year + 1, month, day, dept.data);
		path.len = 0;
		sb_printf(&path, "%s/content/%s/%d.md", out, dept.data, year);
		writefile(path.data, fm.data, fm.len, text.data, text.len);
		bytes += fm.len + text.len;

		if (hugo) {
			hfm.len = 0;
			sb_printf(&hfm, "---\ntitle: %s%d年法治政府建设年度报告\n"
			    "date: %d-%02d-%02d\ncategory: [%s]\n"
			    "department: [%s]\nyear: [\"%d\"]\n"
			    "source: %s\n---\n\n",
			    dept.data, year, year + 1, month, day,
			    categories[cat], dept.data, year, dept.data);
			path.len = 0;
			sb_printf(&path, "%s/hugo/content/report/%s/%d.md",
			    out, dept.data, year);
			writefile(path.data, hfm.data, hfm.len, text.data,
			    text.len);
		}
		if (n >= 100000 && (i + 1) % 100000 == 0)
			fprintf(stderr, "gencorpus: %llu/%llu reports\n",
			    i + 1, n);
	}
	fprintf(stderr, "gencorpus: %llu reports, %llu departments, "
	    "%.1f MB of Markdown in %s\n", n, (n + YEARS - 1) / YEARS,
	    bytes / 1e6, out);
	free(dept.data);
	free(fm.data);
	free(hfm.data);
	free(text.data);
	free(tail.data);
	free(path.data);
	return 0;
}
