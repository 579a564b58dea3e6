"""store tables: products and their images, orders, partner offers, vouchers, store settings

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("limit_per_member", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "available_from", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column(
            "available_until", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("image_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "limit_per_member IS NULL OR limit_per_member > 0", name=op.f("ck_products_limit_positive")
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_products_points_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_products_stock_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_products_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_index("ix_products_community_name", "products", ["community_id", "name"], unique=False)
    op.create_table(
        "store_settings",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("fen_per_point", sa.Integer(), nullable=True),
        sa.Column("voucher_minutes", sa.Integer(), nullable=True),
        sa.Column("order_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "fen_per_point IS NULL OR fen_per_point >= 0", name=op.f("ck_store_settings_rate_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_store_settings_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_store_settings")),
    )
    op.create_table(
        "offers",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("valid_from", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("valid_until", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("quota_total", sa.Integer(), nullable=True),
        sa.Column("claimed_count", sa.Integer(), nullable=False),
        sa.Column("limit_per_member", sa.Integer(), nullable=True),
        sa.Column("voucher_minutes", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("claimed_count >= 0", name=op.f("ck_offers_claimed_not_negative")),
        sa.CheckConstraint("points > 0", name=op.f("ck_offers_points_positive")),
        sa.CheckConstraint(
            "quota_total IS NULL OR claimed_count <= quota_total", name=op.f("ck_offers_within_quota")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_offers_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name=op.f("fk_offers_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index("ix_offers_community", "offers", ["community_id", "active"], unique=False)
    op.create_index("ix_offers_partner", "offers", ["partner_id"], unique=False)
    op.create_table(
        "orders",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pickup_code", sa.String(length=8), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("closed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('reserved','fulfilled','cancelled','expired')", name=op.f("ck_orders_known_status")
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_orders_points_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_orders_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_orders_member_id_members")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_orders_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("community_id", "pickup_code", name="pickup_code_once"),
    )
    op.create_index("ix_orders_member", "orders", ["member_id", "community_id"], unique=False)
    op.create_index(
        "ix_orders_product_member", "orders", ["product_id", "member_id", "created_at"], unique=False
    )
    op.create_index("ix_orders_status_expires", "orders", ["status", "expires_at"], unique=False)
    op.create_table(
        "product_images",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("thumb_media_type", sa.String(length=32), nullable=False),
        sa.Column("thumb", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_product_images_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_images_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_images")),
    )
    op.create_table(
        "vouchers",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("redeemed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("redeemed_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'redeemed') = (redeemed_at IS NOT NULL)", name=op.f("ck_vouchers_redeemed_time")
        ),
        sa.CheckConstraint(
            "status IN ('issued','redeemed','expired','cancelled')", name=op.f("ck_vouchers_known_status")
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_vouchers_points_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_vouchers_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_vouchers_member_id_members")),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_vouchers_offer_id_offers")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_vouchers_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("community_id", "code", name="voucher_code_once"),
    )
    op.create_index("ix_vouchers_member", "vouchers", ["member_id", "community_id"], unique=False)
    op.create_index("ix_vouchers_offer_member", "vouchers", ["offer_id", "member_id"], unique=False)
    op.create_index("ix_vouchers_partner_redeemed", "vouchers", ["partner_id", "redeemed_at"], unique=False)
    op.create_index("ix_vouchers_status_expires", "vouchers", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    for index, table in (
        ("ix_vouchers_status_expires", "vouchers"),
        ("ix_vouchers_partner_redeemed", "vouchers"),
        ("ix_vouchers_offer_member", "vouchers"),
        ("ix_vouchers_member", "vouchers"),
        ("ix_orders_status_expires", "orders"),
        ("ix_orders_product_member", "orders"),
        ("ix_orders_member", "orders"),
        ("ix_offers_partner", "offers"),
        ("ix_offers_community", "offers"),
        ("ix_products_community_name", "products"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("vouchers", "product_images", "orders", "offers", "store_settings", "products"):
        op.drop_table(table)
