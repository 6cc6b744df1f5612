"""Store API routes, mounted under /api/store/."""

from rest_framework.routers import DefaultRouter

from store import views

router = DefaultRouter()
router.register("categories", views.CategoryViewSet, basename="category")
router.register("products", views.ProductViewSet, basename="product")
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("orders", views.OrderViewSet, basename="order")

urlpatterns = router.urls
