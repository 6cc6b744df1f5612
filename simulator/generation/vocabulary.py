"""Fixed word lists the generator draws from: actions, user agents, pages, queries."""

# Action codes index this tuple; the values are ActionType values.
ACTIONS = (
    "view_page",
    "view_product",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "login",
    "failed_login",
    "logout",
    "purchase",
    "update_profile",
)
VIEW_PAGE, VIEW_PRODUCT, SEARCH, ADD_TO_CART, REMOVE_FROM_CART = range(5)
LOGIN, FAILED_LOGIN, LOGOUT, PURCHASE, UPDATE_PROFILE = range(5, 10)

# Browsers real customers use; index 0-5 desktop, 6-9 mobile.
BROWSER_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/122.0.0.0 Mobile Safari/537.36",
)
DESKTOP_USER_AGENTS = range(0, 6)
MOBILE_USER_AGENTS = range(6, 10)
# Browsers no simulated customer uses, so an account takeover always brings a
# user agent new to its victim.
TAKEOVER_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/109.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Linux; Android 9; SM-J730F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/110.0.0.0 Mobile Safari/537.36",
)
# Clients that announce themselves as scripts and crawlers.
BOT_USER_AGENTS = (
    "python-requests/2.31.0",
    "Scrapy/2.11.1 (+https://scrapy.org)",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/122.0.0.0 Safari/537.36",
    "okhttp/4.12.0",
)
USER_AGENTS = BROWSER_USER_AGENTS + TAKEOVER_USER_AGENTS + BOT_USER_AGENTS
TAKEOVER_UA_START = len(BROWSER_USER_AGENTS)
BOT_UA_START = TAKEOVER_UA_START + len(TAKEOVER_USER_AGENTS)

# Pages other than product pages; category pages follow these.
STATIC_PAGES = ("/", "/cart/", "/account/", "/delivery/", "/sale/", "/help/")

# Search queries, one list per category name; other categories use GENERIC.
SEARCH_TERMS = {
    "Electronics": ("smartphone", "headphones", "charger", "laptop", "tv 55"),
    "Books": ("detective", "cookbook", "fantasy", "python", "children books"),
    "Clothing": ("jacket", "jeans", "dress", "sneakers", "winter coat"),
    "Home & Kitchen": ("frying pan", "kettle", "towels", "vacuum", "knife set"),
    "Sports & Outdoors": ("bicycle", "yoga mat", "tent", "dumbbells", "ski"),
    "Toys & Games": ("lego", "doll", "board game", "puzzle", "rc car"),
    "Beauty": ("shampoo", "perfume", "face cream", "lipstick", "hair dryer"),
    "Grocery": ("coffee", "tea", "chocolate", "olive oil", "pasta"),
}
GENERIC_SEARCH_TERMS = ("gift", "sale", "new", "best price", "set")

# Median price (currency units) and spread of the log-normal price per category.
CATEGORY_PRICES = {
    "Electronics": (9000, 1.0),
    "Books": (600, 0.5),
    "Clothing": (2500, 0.7),
    "Home & Kitchen": (1800, 0.9),
    "Sports & Outdoors": (3000, 1.0),
    "Toys & Games": (1200, 0.8),
    "Beauty": (900, 0.7),
    "Grocery": (300, 0.6),
}
DEFAULT_CATEGORY_PRICE = (1500, 0.9)

# Fields an update_profile event may change.
PROFILE_FIELDS = ('["phone"]', '["address"]', '["email", "phone"]', '["password"]')
TAKEOVER_PROFILE_FIELDS = '["email", "password", "phone"]'
