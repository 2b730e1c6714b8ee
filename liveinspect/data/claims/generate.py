"""Generate the templated part of the claim training data (deterministic; see README.md).

    python liveinspect/data/claims/generate.py          # rewrite the generated rows of train.jsonl
    python liveinspect/data/claims/generate.py --check  # exit 1 if train.jsonl differs from a rerun

Every template is a sentence pattern written by hand with slots; each slot
has hand-written fillers. A template's rows are its slot combinations in an
order shuffled by `random.Random(template id)`, the first `n` kept. A row is
dropped when it repeats an earlier one, or when its character-trigram Jaccard
similarity to a line of the held-out sets (`test.jsonl`, `real/test.jsonl`)
reaches `HELD_OUT_LIMIT`, so no generated line is a near copy of an
evaluation line. Generated rows carry `"provenance": "generated"` and their
template id; the hand-written rows of train.jsonl (no provenance field, or
"hand-written") are kept as they are, first.
"""

# ruff: noqa: E501 - the filler lists are data; one list per line reads better than wrapped ones
from __future__ import annotations

import itertools
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = HERE / "train.jsonl"
HELD_OUT = (HERE / "test.jsonl", HERE / "real" / "test.jsonl")
HELD_OUT_LIMIT = 0.5

FE, MC, NL, OL = "false_efficacy", "misleading_claim", "negative_list_product", "offplatform_lure"
AT, FP, FD, OK = "absolute_term", "false_price", "fake_data", "compliant"

# --- shared fillers ------------------------------------------------------------------
ZH_WHO = ["我爸", "我妈", "我婆婆", "隔壁王阿姨", "我们的老客户", "好几个粉丝", "我舅舅", "我闺蜜",
          "我同事", "直播间的家人们", "我姥姥", "一个老顾客"]
ZH_TOOK = ["喝了", "吃了", "坚持喝了", "每天泡水喝了", "连着吃了", "用了"]
ZH_SPAN = ["一个月", "二十天", "三个星期", "两个疗程", "半个月", "三个月", "十来天"]
ZH_MARKER = ["血压", "血糖", "血脂", "尿酸", "胆固醇", "转氨酶", "甲状腺指标", "血糖值", "血压值"]
ZH_NORMAL = ["都正常了", "降下来了", "稳住了", "恢复正常了", "全部达标了", "一下就下来了"]
ZH_ILL = ["糖尿病", "高血压", "痛风", "失眠", "鼻炎", "老胃病", "颈椎病", "湿疹", "脂肪肝", "便秘",
          "关节炎", "咽炎", "前列腺炎", "哮喘", "甲亢", "偏头痛"]
ZH_ILL_PEOPLE = ["的朋友", "的老人", "的家人", "患者", "的姐妹", "的兄弟"]
ZH_OUTCOME = ["药都停了", "再也没犯过", "医院都不用去了", "复查全好了", "跟正常人一样了",
              "一点症状都没有了", "就没再复发", "彻底断根了"]
ZH_FOOD = ["这个茶", "这款粉", "这个膏方", "这个代餐", "这款饮料", "这个酵素", "这个果蔬粉", "这个蜂蜜",
           "这款益生菌", "这个饼干", "这个米稀"]
ZH_MED = ["去医院", "吃药", "打针", "做手术", "挂号排队", "做理疗", "输液"]
EN_WHO = ["my dad", "my mum", "my grandmother", "a regular customer", "one of our viewers",
          "my neighbour", "my uncle", "my best friend", "a lady in our group"]
EN_SPAN = ["a month", "three weeks", "two boxes", "ten days", "six weeks", "a couple of weeks"]
EN_MARKER = ["blood pressure", "blood sugar", "cholesterol", "uric acid", "liver numbers", "thyroid levels"]
EN_NORMAL = ["is back to normal", "came right down", "is in the healthy range now", "dropped a lot",
             "stabilised"]
EN_ILL = ["diabetes", "high blood pressure", "gout", "insomnia", "eczema", "arthritis", "asthma",
          "acid reflux", "psoriasis", "migraines", "fatty liver", "IBS"]
EN_OUTCOME = ["doesn't need the pills anymore", "hasn't had a flare-up since", "never went back to the doctor",
              "is completely fine now", "got a clean bill of health", "threw out the medication"]
EN_FOOD = ["this tea", "this powder", "these gummies", "this tonic", "this juice blend", "this honey",
           "these capsules", "this shake"]
EN_MED = ["see a doctor", "take your pills", "get injections", "have surgery", "go to the clinic"]

TEMPLATES: list[tuple[str, str, str, str, dict[str, list[str]], int]] = [
    # ---------------------------------------------------------------- false_efficacy zh
    ("fe-zh-marker", FE, "zh", "{who}{took}{span}，{marker}{normal}",
     {"who": ZH_WHO, "took": ZH_TOOK, "span": ZH_SPAN, "marker": ZH_MARKER, "normal": ZH_NORMAL}, 45),
    ("fe-zh-illness", FE, "zh", "有{ill}{people}{took}{span}，{outcome}",
     {"ill": ZH_ILL, "people": ZH_ILL_PEOPLE, "took": ZH_TOOK, "span": ZH_SPAN, "outcome": ZH_OUTCOME}, 60),
    ("fe-zh-no-doctor", FE, "zh", "有了{food}，以后不用{med}了",
     {"food": ZH_FOOD, "med": ZH_MED}, 30),
    ("fe-zh-better-than", FE, "zh", "{food}比{drug}还管用，{ill}一{verb}就好",
     {"food": ZH_FOOD, "drug": ["医院开的药", "西药", "进口药", "激素药膏", "降压药"], "ill": ZH_ILL,
      "verb": ["吃", "喝", "用", "抹"]}, 30),
    ("fe-zh-body", FE, "zh", "{product}用上{span}，{part}{change}",
     {"product": ["这个膏", "这款精华", "这个贴", "这款洗发水", "这个理疗仪", "这条护腰", "这款牙膏"],
      "span": ZH_SPAN, "part": ["斑", "皱纹", "白头发", "秃的地方", "牙龈", "膝盖", "腰", "疤痕"],
      "change": ["自己就没了", "全长回来了", "跟没发生过一样", "完全恢复了", "就不疼了", "变没了"]}, 40),
    ("fe-zh-replace", FE, "zh", "{who}说{food}能代替{drug}，{ill}吃它就够了",
     {"who": ["医生", "老中医", "专家", "我们厂的研究员"], "food": ZH_FOOD,
      "drug": ["降糖药", "降压药", "胰岛素", "抗生素", "安眠药"], "ill": ZH_ILL}, 25),
    ("fe-zh-kid", FE, "zh", "孩子{took}{span}，{kid}",
     {"took": ZH_TOOK, "span": ZH_SPAN,
      "kid": ["个子蹭蹭长", "近视度数降了", "再也不感冒了", "注意力不集中的毛病改了", "过敏全好了",
              "身高多了五厘米"]}, 25),
    ("fe-zh-weight", FE, "zh", "{how}，{span}肚子上的肉{gone}",
     {"how": ["不节食不运动", "躺着就能瘦", "每天喝一杯", "睡前吃两粒", "什么都不用改"], "span": ZH_SPAN,
      "gone": ["全没了", "少了一圈", "掉了二十斤", "全都消下去了"]}, 25),
    ("fe-zh-shot", FE, "zh", "{product}一抹，效果相当于{procedure}",
     {"product": ["这个面霜", "这支眼霜", "这个精华", "这个安瓶"],
      "procedure": ["打了一针玻尿酸", "做了一次热玛吉", "做了个拉皮手术", "打了水光针", "割了双眼皮"]}, 16),
    ("fe-zh-fast", FE, "zh", "{span}见效，{result}",
     {"span": ["三天", "一周", "七天", "当天", "半个月", "一个疗程", "两周"],
      "result": ["皮肤明显变好", "斑点淡了一大半", "肚子小了一圈", "血糖稳了", "关节不疼了", "头发不掉了"]}, 30),
    # ---------------------------------------------------------------- false_efficacy en
    ("fe-en-marker", FE, "en", "{who} has been on {food} for {span} and the {marker} {normal}",
     {"who": EN_WHO, "food": EN_FOOD, "span": EN_SPAN, "marker": EN_MARKER, "normal": EN_NORMAL}, 40),
    ("fe-en-illness", FE, "en", "{who} had {ill} for years, and after {span} on {food} she {outcome}",
     {"who": EN_WHO, "ill": EN_ILL, "span": EN_SPAN, "food": EN_FOOD, "outcome": EN_OUTCOME}, 45),
    ("fe-en-no-doctor", FE, "en", "with {food} you won't need to {med} anymore",
     {"food": EN_FOOD, "med": EN_MED}, 25),
    ("fe-en-better", FE, "en", "{food} works better than prescription {drug} for {ill}",
     {"food": EN_FOOD, "drug": ["pills", "creams", "medicine", "steroids"], "ill": EN_ILL}, 30),
    ("fe-en-body", FE, "en", "after {span} the {part} {change}",
     {"span": EN_SPAN, "part": ["dark spots", "wrinkles", "grey hairs", "bald patches", "scars", "knee pain",
                                "back pain", "swelling"],
      "change": ["completely disappeared", "grew back", "were gone", "healed for good", "just vanished"]}, 30),
    ("fe-en-weight", FE, "en", "{how} and the belly fat {gone} in {span}",
     {"how": ["no diet, no gym", "just one scoop a day", "take two before bed", "change nothing"],
      "gone": ["melted off", "disappeared", "dropped twenty pounds"], "span": EN_SPAN}, 20),
    # ---------------------------------------------------------------- misleading_claim zh
    ("mc-zh-heritage", MC, "zh", "{what}是{heritage}，{scarce}",
     {"what": ["这个方子", "这款酱", "这个膏", "这款茶", "这个配方", "这个手艺"],
      "heritage": ["祖上传下来的宫廷秘方", "御医留下来的古方", "传了七代的家传秘方", "少林寺的秘方",
                   "清朝皇宫里的御用配方", "老中医压箱底的秘方"],
      "scarce": ["外面根本买不到", "从来不外传", "全国只有我们有", "别家仿都仿不出来"]}, 30),
    ("mc-zh-celebrity", MC, "zh", "{who}{endorse}",
     {"who": ["好几个明星", "某位顶流", "国家队的运动员", "院士团队", "三甲医院的主任", "米其林大厨",
              "大使馆的人", "央视主持人"],
      "endorse": ["都在用这一款", "亲自推荐过", "私下都找我买", "专门给我们背书", "都说是最靠谱的"]}, 30),
    ("mc-zh-award", MC, "zh", "{product}拿过{award}，{proof}",
     {"product": ["我们这款", "这个牌子", "这款面膜", "这个茶叶", "这款白酒"],
      "award": ["国际金奖", "世界博览会大奖", "联合国认证", "国家级荣誉", "诺贝尔奖团队的认可"],
      "proof": ["全世界就评了几个", "证书就挂在工厂", "一般品牌根本拿不到", "别的品牌都没有"]}, 25),
    ("mc-zh-origin", MC, "zh", "这批{item}全部是{origin}的，{purity}",
     {"item": ["牛肉", "燕窝", "海参", "大米", "蜂蜜", "奶粉", "茶叶", "红酒"],
      "origin": ["国外原装进口", "深山野生", "核心产区直供", "百年老树", "进口原料"],
      "purity": ["一点都不掺", "百分之百纯的", "绝对不是拼接的", "没有任何添加", "货真价实"]}, 30),
    ("mc-zh-return", MC, "zh", "{invest}，{promise}",
     {"invest": ["跟着老师买", "今天投一万", "跟我一起上车", "买这个理财", "报这个课", "入这个项目"],
      "promise": ["一个月至少翻一倍", "稳稳的不会亏", "亏了我全赔", "年收益至少百分之二十", "保证回本",
                  "三个月就能月入几万"]}, 30),
    ("mc-zh-oem", MC, "zh", "{item}跟{brand}是{same}，只是没贴牌",
     {"item": ["这款面霜", "这个包", "这双鞋", "这支口红", "这块表"],
      "brand": ["国际大牌", "专柜大牌", "奢侈品牌", "一线大牌"],
      "same": ["同一个工厂", "同一条生产线", "一样的原料", "同一批货"]}, 18),
    # ---------------------------------------------------------------- misleading_claim en
    ("mc-en-heritage", MC, "en", "{what} is {heritage}, {scarce}",
     {"what": ["this recipe", "this balm", "this blend", "this sauce"],
      "heritage": ["a secret royal formula", "passed down for seven generations", "an ancient palace remedy",
                   "a monastery's secret recipe"],
      "scarce": ["you can't buy it anywhere else", "it has never left the family", "nobody can copy it"]}, 24),
    ("mc-en-endorse", MC, "en", "{who} {endorse}",
     {"who": ["top doctors", "famous actresses", "Olympic athletes", "a Nobel laureate's team",
              "celebrity chefs", "hospital dermatologists"],
      "endorse": ["all use this one", "personally recommend it", "buy it from me privately",
                  "swear it's the real deal"]}, 22),
    ("mc-en-return", MC, "en", "{invest} and {promise}",
     {"invest": ["put in five hundred today", "follow my trades", "join this programme", "buy into this fund",
                 "take my course"],
      "promise": ["you'll double it in a month", "you can't lose", "I'll cover any loss",
                  "returns are locked in at twenty percent", "you'll earn ten grand a month"]}, 24),
    ("mc-en-origin", MC, "en", "all of the {item} is {origin}, {purity}",
     {"item": ["beef", "caviar", "honey", "olive oil", "tea", "wine"],
      "origin": ["imported straight from the source", "wild-harvested", "from the famous estate"],
      "purity": ["nothing mixed in", "one hundred percent pure", "completely genuine"]}, 16),
    # ---------------------------------------------------------------- negative_list zh (euphemisms)
    ("nl-zh-surveil", NL, "zh", "{device}，{use}",
     {"device": ["这个小黑盒", "这个纽扣大小的东西", "这款充电头", "这支笔", "这个小插座", "这个迷你定位器"],
      "use": ["放在屋里能偷偷听到别人说话", "对方完全发现不了", "藏起来就能远程看画面", "装在车上随时知道他在哪",
              "隔着墙都能录音"]}, 28),
    ("nl-zh-vape", NL, "zh", "{what}{detail}",
     {"what": ["这个雾化杆", "小烟弹", "一次性的那种", "这款电子雾化", "换弹的小烟"],
      "detail": ["，十几种水果口味", "，一颗能抽好几千口", "，没有烟味", "，懂的都懂", "，学生也能买"]}, 22),
    ("nl-zh-drug", NL, "zh", "{pill}{effect}，{no_rx}",
     {"pill": ["这个小蓝片", "这个白色小药丸", "进口的减肥胶囊", "这个止疼片", "这个安眠的药"],
      "effect": ["吃了就瘦", "吃一片就睡着", "效果特别猛", "男人都懂"],
      "no_rx": ["不用处方", "不用去医院开", "药店买不到", "我这里直接发"]}, 24),
    ("nl-zh-inject", NL, "zh", "{stuff}{diy}",
     {"stuff": ["玻尿酸", "肉毒", "溶脂针", "美白针", "水光针"],
      "diy": ["在家自己就能打", "自己对着镜子打就行", "针头我们都配好", "不用去医院打"]}, 18),
    ("nl-zh-weapon", NL, "zh", "{weapon}，{power}",
     {"weapon": ["这款仿真的", "这个弹弓", "这根甩棍", "这把折叠的", "这个电击器"],
      "power": ["钢珠能打穿木板", "打猎专用", "一下就能放倒人", "防身很猛", "出门随身带"]}, 20),
    ("nl-zh-wildlife", NL, "zh", "{animal}，{sell}",
     {"animal": ["真的象牙手串", "穿山甲鳞片", "犀牛角的摆件", "玳瑁的梳子", "野生的熊胆粉", "红珊瑚原枝"],
      "sell": ["老料难找", "现货不多", "保真", "泡酒效果好"]}, 20),
    ("nl-zh-docs", NL, "zh", "{doc}{how}",
     {"doc": ["学历证书", "驾驶证", "职业资格证", "发票", "健康证", "房产证"],
      "how": ["不用考就能办", "全国联网可查", "包过包拿证", "三天就能下来"]}, 20),
    ("nl-zh-fake", NL, "zh", "{fake}{same}",
     {"fake": ["原单货", "一比一的", "高仿的", "尾单的", "复刻款"],
      "same": ["，专柜一模一样", "，logo做工都一样", "，只要专柜零头价", "，鉴定都看不出来"]}, 20),
    ("nl-zh-misc", NL, "zh", "{what}",
     {"what": ["这个卡能收到别人的验证码", "信号屏蔽器考试的时候用", "让电表走慢的小东西", "万能开锁工具",
               "能远程控制别人手机的软件", "实名的手机卡，不用本人", "代孕包性别", "夜店里用的那种兴奋粉",
               "烟草店买不到的外烟一条一条发", "助兴的小药水，无色无味"]}, 10),
    # ---------------------------------------------------------------- negative_list en
    ("nl-en-surveil", NL, "en", "{device} {use}",
     {"device": ["this tiny black box", "this charger", "this pen", "this little tracker", "this button"],
      "use": ["picks up every conversation in the room", "records through walls", "streams video without anyone knowing",
              "shows you where their car goes"]}, 18),
    ("nl-en-vape", NL, "en", "{what} {detail}",
     {"what": ["the refillable pods", "these disposables", "the mesh coil pens", "the flavoured pods"],
      "detail": ["come in twenty fruit flavours", "last four thousand puffs", "have no smell at all",
                 "ship to anyone, no ID check"]}, 14),
    ("nl-en-drug", NL, "en", "{pill} {effect}, {no_rx}",
     {"pill": ["the little blue pills", "these slimming capsules", "these strong painkillers", "the sleeping tablets"],
      "effect": ["work in half an hour", "melt the weight off", "knock you out"],
      "no_rx": ["no prescription needed", "no doctor required", "I ship them straight to you"]}, 18),
    ("nl-en-misc", NL, "en", "{what}",
     {"what": ["do your own botox at home, needles included", "replica bags with the same logo and stitching",
               "a degree certificate that checks out online", "genuine ivory pendants", "a lock pick set that opens anything",
               "a SIM registered under someone else's name", "a slingshot with hunting steel balls",
               "a jammer that blocks every phone signal"]}, 8),
    # ---------------------------------------------------------------- offplatform_lure zh (no app named)
    ("ol-zh-private", OL, "zh", "{here}，{move}",
     {"here": ["这里不方便说", "直播间说不了", "价格不能公开", "平台不让讲", "这里说了会被封", "这个价格不能挂"],
      "move": ["私聊我", "下播找我", "后台私信", "找我单独聊", "看我主页", "我们私下说"]}, 36),
    ("ol-zh-contact", OL, "zh", "{where}{thing}，{note}",
     {"where": ["主页签名里", "我头像里", "屏幕角落", "公屏上", "评论区置顶"],
      "thing": ["有我的号", "那串数字", "字母加数字", "有个码", "有联系方式"],
      "note": ["备注直播间", "加了报暗号", "懂的都懂", "手慢就没了"]}, 36),
    ("ol-zh-pay", OL, "zh", "{dont}，{pay}",
     {"dont": ["别在这里拍", "不要走链接", "别下单", "链接价格别管", "平台要扣点"],
      "pay": ["直接转给我", "打到我个人账户", "扫我的收款码", "发红包给我就发货", "走对公账户"]}, 30),
    ("ol-zh-group", OL, "zh", "{join}，{better}",
     {"join": ["进我们的群", "去我们自己的小程序", "来我们的粉丝群", "换个地方聊"],
      "better": ["比这里便宜一半", "有内部价", "有直播间没有的款", "价格更低"]}, 16),
    ("ol-zh-green", OL, "zh", "{app}{search}",
     {"app": ["绿色软件", "那个绿色的聊天工具", "企鹅", "蓝色软件", "某宝", "某音的小号"],
      "search": ["搜我名字", "搜屏幕上的号", "加一下", "找我"]}, 20),
    # ---------------------------------------------------------------- offplatform_lure en
    ("ol-en-private", OL, "en", "{here}, {move}",
     {"here": ["can't say the price here", "the platform won't let me say it", "this deal can't go on the stream",
               "I'll get banned if I say it here"],
      "move": ["DM me", "message me after the stream", "check my bio", "find me privately"]}, 16),
    ("ol-en-pay", OL, "en", "{dont}, {pay}",
     {"dont": ["don't check out here", "skip the cart", "ignore the link price", "the app takes a cut"],
      "pay": ["send it to me directly", "pay my personal account", "transfer it to me", "pay through the link in my bio"]}, 16),
    ("ol-en-contact", OL, "en", "{where} {thing}",
     {"where": ["the number in my profile,", "the handle on screen,", "the code in the corner,"],
      "thing": ["text me there", "add me there", "scan it after you leave", "say you came from the stream"]}, 12),
    # ---------------------------------------------------------------- absolute_term zh (indirect)
    ("at-zh-nobody", AT, "zh", "{scope}{compare}",
     {"scope": ["整个行业", "全国", "全世界", "市面上", "所有品牌里", "全平台"],
      "compare": ["没有一家比得上我们", "找不到比它更好的", "就我们一家能做到", "没有对手", "谁都超不过它"]}, 30),
    ("at-zh-ceiling", AT, "zh", "这是{cat}的{top}",
     {"cat": ["面霜界", "精华里", "空气炸锅", "床垫", "蜂蜜", "行业"],
      "top": ["天花板", "天花板没有之一", "王者", "标杆", "头把交椅", "无冕之王"]}, 24),
    # ---------------------------------------------------------------- absolute_term en
    ("at-en-nobody", AT, "en", "{scope} {compare}",
     {"scope": ["nobody in the industry", "no brand on earth", "nothing on the market", "no other shop"],
      "compare": ["comes close to this", "can match our quality", "beats this one", "does it better"]}, 16),
    ("at-en-king", AT, "en", "this is the {top} of {cat}",
     {"top": ["undisputed king", "gold standard", "ultimate champion"],
      "cat": ["serums", "air fryers", "mattresses", "honey", "vacuums"]}, 12),
    # ---------------------------------------------------------------- false_price zh
    ("fp-zh-ref", FP, "zh", "{ref}卖{high}，今天{low}",
     {"ref": ["专柜", "商场", "外面", "官方旗舰店", "吊牌价"],
      "high": ["一千二", "八百多", "六百九", "三百多", "两千"],
      "low": ["只要一百出头", "直接一折", "破价到几十块", "砍到零头", "不到一百"]}, 30),
    ("fp-zh-urgency", FP, "zh", "{only}，{after}",
     {"only": ["这个价格就这几分钟", "只有这一场", "只给前一百名", "今天是最后一次", "厂家只给了这些"],
      "after": ["下播马上恢复", "以后再也没有", "过了今晚就涨", "卖完就停产", "错过等一年"]}, 30),
    ("fp-zh-loss", FP, "zh", "{loss}",
     {"loss": ["今天是亏钱卖的，卖一单亏一单", "老板不知道我改了价", "这是成本价甩给大家", "倒贴运费也要卖",
               "清仓价，工厂要倒闭了", "偷偷给你们改的价，马上就撤"]}, 6),
    # ---------------------------------------------------------------- false_price en
    ("fp-en-ref", FP, "en", "it's {high} {ref}, {low} today",
     {"high": ["twelve hundred", "eight hundred", "six ninety", "two grand"],
      "ref": ["at the counter", "in stores", "on the tag", "at the mall"],
      "low": ["just a hundred and twenty", "a tenth of that", "under a hundred"]}, 16),
    ("fp-en-urgency", FP, "en", "{only}, {after}",
     {"only": ["this price lasts five minutes", "only for the first hundred", "tonight is the last time",
               "the factory only sent this batch"],
      "after": ["then it goes right back up", "and it never comes back", "you'll wait a year", "gone forever"]}, 16),
    # ---------------------------------------------------------------- fake_data zh
    ("fd-zh-crowd", FD, "zh", "{now}{crowd}",
     {"now": ["现在后台", "此时此刻", "刚刚一分钟", "这一波"],
      "crowd": ["有三十万人在抢", "进来了二十万人", "卖了一万多单", "又被抢空了", "几万人同时下单"]}, 18),
    ("fd-zh-rate", FD, "zh", "{rate}",
     {"rate": ["回购率九成以上", "好评率满分", "九成九的人都说有效", "十个人里九个会回购", "一个差评都没有",
               "累计卖了几千万瓶", "全国几十万家庭都在用", "上一场卖了一个亿"]}, 8),
    # ---------------------------------------------------------------- fake_data en
    ("fd-en", FD, "en", "{claim}",
     {"claim": ["two hundred thousand people are grabbing this right now", "ninety-nine percent saw results",
                "nine in ten come back for more", "not one bad review", "ten million sold this year",
                "it sold out in three seconds again"]}, 6),
    # ---------------------------------------------------------------- compliant near misses zh
    ("ok-zh-food-plain", OK, "zh", "{food}是普通食品，{caveat}",
     {"food": ZH_FOOD, "caveat": ["不能代替药物", "身体不舒服请去医院", "不具有治疗作用", "当日常饮品就好",
                                  "有基础病的请遵医嘱"]}, 50),
    ("ok-zh-taste", OK, "zh", "{who}说{food}{taste}",
     {"who": ZH_WHO, "food": ZH_FOOD, "taste": ["喝着挺顺口的", "味道不错", "甜度刚好", "冲起来很方便",
                                                "早上当早餐挺方便", "口感比较清爽"]}, 60),
    ("ok-zh-usage", OK, "zh", "{step}{dose}",
     {"step": ["每天早上", "饭后", "睡前", "用温水", "打开包装以后"],
      "dose": ["冲一包就行", "吃两片", "放冰箱冷藏", "按说明书用量来", "取适量涂抹", "不要超量"]}, 25),
    ("ok-zh-spec", OK, "zh", "{item}{spec}",
     {"item": ["这款外套", "这个锅", "这款面霜", "这条裤子", "这个杯子", "这款台灯"],
      "spec": ["有三个颜色", "尺码偏大", "容量是五百毫升", "材质是纯棉", "重量比较轻", "可以机洗",
               "保修一年", "详情页有尺码表"]}, 48),
    ("ok-zh-service", OK, "zh", "{service}",
     {"service": ["售后在店铺里找客服就行", "下单以后四十八小时发货", "七天无理由退货", "运费险已经给大家带上",
                  "优惠券在小黄车里领", "价格以页面为准", "大家按需购买", "有问题打在公屏上",
                  "点左上角关注主播", "粉丝团的朋友有小样", "发票在订单里申请", "在平台下单才有保障",
                  "有疑问联系平台客服", "今天的活动价页面上写着日期"]}, 14),
    ("ok-zh-opinion", OK, "zh", "{opinion}",
     {"opinion": ["我自己最喜欢这个颜色", "我个人觉得这款挺好用", "这是我的真实感受，仅供参考",
                  "每个人体质不同，效果因人而异", "我小时候最爱吃这个", "这个味道我特别喜欢",
                  "第一次来的朋友可以先买小份试试", "这一款是今天第一个讲的", "最好先看看尺码表",
                  "这个颜色最近问的人比较多"]}, 10),
    ("ok-zh-health-lawful", OK, "zh", "{disclaimer}",
     {"disclaimer": ["保健食品不是药物，不能代替药物治疗疾病", "本品不能代替药物，请遵医嘱",
                     "请按说明书或在药师指导下使用", "有疾病的朋友请先咨询医生", "症状持续请及时就医",
                     "孕妇儿童请在医生指导下使用", "理财有风险，投资需谨慎", "未成年人请勿饮酒",
                     "这款是普通化妆品，主要是保湿", "运动手环数据仅供参考，不是医疗器械"]}, 10),
    ("ok-zh-price-plain", OK, "zh", "{price}",
     {"price": ["直播间价格是八十九元", "今天满两百减二十", "第二件半价，页面会自动算", "这个价格跟平时一样",
                "到手价就是页面显示的价格", "今天有店铺周年庆的活动", "库存还挺多，不用着急",
                "这款平时也是这个价"]}, 8),
    # ---------------------------------------------------------------- compliant near misses en
    ("ok-en-food-plain", OK, "en", "{food} is an ordinary food, {caveat}",
     {"food": EN_FOOD, "caveat": ["not a medicine", "see a doctor if you're unwell", "it doesn't treat anything",
                                  "just enjoy it as a drink", "follow your doctor's advice"]}, 25),
    ("ok-en-taste", OK, "en", "{who} says {food} {taste}",
     {"who": EN_WHO, "food": EN_FOOD, "taste": ["tastes nice", "is easy to mix", "isn't too sweet",
                                               "is handy for breakfast", "has a light flavour"]}, 45),
    ("ok-en-spec", OK, "en", "{item} {spec}",
     {"item": ["the jacket", "the pan", "the cream", "the jeans", "the mug", "the lamp"],
      "spec": ["comes in three colours", "runs a little large", "holds five hundred millilitres",
               "is machine washable", "has a one-year warranty", "is pretty light"]}, 36),
    ("ok-en-service", OK, "en", "{service}",
     {"service": ["returns are handled through the shop page", "orders ship within two days",
                  "grab the coupon from the cart", "the price on the page is the final price",
                  "tap follow at the top left", "ask your questions in the chat", "please buy only what you need",
                  "request an invoice on your order", "contact the platform's customer service",
                  "order through the cart so you're covered"]}, 10),
    ("ok-en-opinion", OK, "en", "{opinion}",
     {"opinion": ["this colour is my personal favourite", "honestly I just like the smell",
                  "that's only my own experience", "results vary from person to person",
                  "this is the first item tonight", "best to check the size chart first",
                  "investing has risks, past returns aren't a promise", "not for anyone under eighteen",
                  "it's a regular moisturiser, nothing medical", "the tracker's data is for reference only"]}, 10),
    ("ok-zh-intro", OK, "zh", "{greet}，{intro}{product}",
     {"greet": ["欢迎新进来的朋友", "大家晚上好", "家人们下午好", "刚进来的宝宝们"],
      "intro": ["今天给大家带来的是", "下面要讲的是", "接下来看一下", "这一款是"],
      "product": ["一款保湿面霜", "家用的不粘锅", "秋冬的羊毛围巾", "新疆的红枣", "儿童的保温杯",
                  "一款燕麦片", "无线吸尘器", "纯棉四件套"]}, 40),
    ("ok-zh-ingredient", OK, "zh", "{product}的配料{ingredients}",
     {"product": ["这款饼干", "这个酱", "这款面霜", "这瓶饮料", "这个洗发水", "这款麦片"],
      "ingredients": ["写在包装背面", "就是小麦粉、鸡蛋和黄油", "第一位是水", "里面有烟酰胺和甘油",
                      "没有添加蔗糖", "表大家可以放大看"]}, 30),
    ("ok-zh-ill-ask", OK, "zh", "有{ill}的朋友问能不能吃，{answer}",
     {"ill": ZH_ILL, "answer": ["请先咨询医生", "这个是普通食品，不能治病", "请遵医嘱，我们不做任何功效承诺",
                                "身体的问题一定要去医院看"]}, 40),
    ("ok-en-intro", OK, "en", "{greet}, {intro} {product}",
     {"greet": ["welcome to everyone just joining", "good evening everyone", "hi friends"],
      "intro": ["next up is", "tonight we're looking at", "this one is"],
      "product": ["a moisturising cream", "a non-stick pan", "a wool scarf", "a kids' water bottle",
                  "a cordless vacuum", "a cotton bedding set"]}, 30),
    ("ok-en-ill-ask", OK, "en", "someone with {ill} asked if they can take it, {answer}",
     {"ill": EN_ILL, "answer": ["please ask your doctor first", "it's just a food and treats nothing",
                                "I can't make any health promises", "see your doctor about that"]}, 30),

]


def trigrams(text: str) -> set[str]:
    text = re.sub(r"\s+", " ", text.strip().casefold())
    return {text[i:i + 3] for i in range(max(len(text) - 2, 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class NearestIndex:
    """Character-trigram sets with an inverted index, for the nearest-line check."""

    def __init__(self, texts: list[str]) -> None:
        self.sets = [trigrams(t) for t in texts]
        self.index: dict[str, list[int]] = {}
        for i, grams in enumerate(self.sets):
            for gram in grams:
                self.index.setdefault(gram, []).append(i)

    def nearest(self, text: str) -> tuple[float, int]:
        grams = trigrams(text)
        candidates = {i for gram in grams for i in self.index.get(gram, ())}
        best = max(((jaccard(grams, self.sets[i]), i) for i in candidates), default=(0.0, -1))
        return best


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def generate_rows(held_out: list[str]) -> list[dict]:
    index = NearestIndex(held_out)
    rows, seen = [], set()
    for template_id, label, lang, pattern, slots, n in TEMPLATES:
        names = list(slots)
        combos = list(itertools.product(*(slots[name] for name in names)))
        random.Random(template_id).shuffle(combos)
        kept = 0
        for combo in combos:
            if kept >= n:
                break
            text = pattern.format(**dict(zip(names, combo, strict=True)))
            if text in seen or index.nearest(text)[0] >= HELD_OUT_LIMIT:
                continue
            seen.add(text)
            rows.append({"text": text, "label": label, "lang": lang, "provenance": "generated",
                         "template": template_id})
            kept += 1
    return rows


def build_train() -> list[dict]:
    hand = [r for r in read_rows(TRAIN) if r.get("provenance", "hand-written") == "hand-written"]
    held_out = [r["text"] for path in HELD_OUT for r in read_rows(path)]
    hand_texts = {r["text"] for r in hand}
    return hand + [r for r in generate_rows(held_out) if r["text"] not in hand_texts]


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str]) -> int:
    text = render(build_train())
    if "--check" in argv:
        same = TRAIN.read_text(encoding="utf-8") == text
        print("train.jsonl is up to date" if same else "train.jsonl differs from a rerun of generate.py")
        return 0 if same else 1
    TRAIN.write_text(text, encoding="utf-8")
    rows = read_rows(TRAIN)
    print(f"wrote {TRAIN}: {len(rows)} rows, {sum(r.get('provenance') == 'generated' for r in rows)} generated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
